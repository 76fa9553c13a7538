// "Select all" for the learners table: the page works without it (each row has its own checkbox).
for (const toggle of document.querySelectorAll('input[data-select-all]')) {
  const boxes = () => document.querySelectorAll(`input[type="checkbox"][name="${toggle.dataset.selectAll}"]`);
  toggle.hidden = false;
  toggle.addEventListener('change', () => {
    for (const box of boxes()) box.checked = toggle.checked;
  });
}
