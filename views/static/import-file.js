// With script, a chosen credential file fills the form's text box; without it, pasting works the same.
document.getElementById('import-file')?.addEventListener('change', async (event) => {
  const file = event.target.files?.[0];
  if (file) document.getElementById('import-text').value = await file.text();
});
