// With script, a chosen JSON file fills the form's text box; a badge image goes to the import API,
// which reads the credential baked into it. Without script, pasting works the same.
const form = document.getElementById('import-form');
document.getElementById('import-file')?.addEventListener('change', async (event) => {
  const file = event.target.files?.[0];
  if (!file) return;
  if (file.type !== 'image/png' && file.type !== 'image/svg+xml') {
    document.getElementById('import-text').value = await file.text();
    return;
  }
  const ltik = form.querySelector('input[name="ltik"]').value;
  const res = await fetch('/api/v1/record/imports', { method: 'POST', headers: { 'content-type': file.type, authorization: `Bearer ${ltik}` }, body: file });
  const answer = await res.json();
  if (res.ok) {
    window.location.assign(`/app/record?ltik=${encodeURIComponent(ltik)}`);
    return;
  }
  let out = document.getElementById('import-report');
  if (!out) {
    out = document.createElement('p');
    out.id = 'import-report';
    out.className = 'warning';
    out.setAttribute('role', 'status');
    form.after(out);
  }
  out.textContent = answer.message;
});
