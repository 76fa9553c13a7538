// With script, a chosen badge image is verified through the API and the page shows its report.
document.getElementById('credential-image')?.addEventListener('change', async (event) => {
  const file = event.target.files?.[0];
  if (!file) return;
  const res = await fetch('/api/v1/verify', { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream' }, body: file });
  const report = await res.json();
  const form = document.getElementById('verify-form');
  let out = document.getElementById('upload-report');
  if (!out) {
    out = document.createElement('div');
    out.id = 'upload-report';
    out.setAttribute('role', 'status');
    form.after(out);
  }
  out.replaceChildren();
  const verdict = document.createElement('p');
  verdict.dataset.verdict = report.verdict ?? 'invalid';
  verdict.dataset.testid = 'upload-verdict';
  verdict.textContent = report.message;
  const list = document.createElement('ul');
  for (const check of report.checks ?? []) {
    const item = document.createElement('li');
    item.textContent = `${check.messages?.[document.documentElement.lang] ?? check.message} (${check.outcome})`;
    list.append(item);
  }
  out.append(verdict, list);
});
