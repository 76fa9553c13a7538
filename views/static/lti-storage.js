// LTI client-side postMessages: the platform's storage frame, and a request/response over postMessage.
// Answers count only from the platform's own origin, for the message we sent.
window.ltiPlatformStorage = (function () {
  function targetWindow(name) {
    const host = window.parent !== window ? window.parent : window.opener;
    if (!host) return null;
    if (name === '_parent') return host;
    try { return host.frames[name] || null; } catch (e) { return null; }
  }
  function send(target, origin, message, timeoutMs) {
    return new Promise(function (resolve, reject) {
      const id = crypto.randomUUID();
      const timer = setTimeout(function () { window.removeEventListener('message', onMessage); reject(new Error('timeout')); }, timeoutMs);
      function onMessage(event) {
        const data = event.data;
        if (event.origin !== origin || !data || typeof data !== 'object' || data.message_id !== id || data.subject !== message.subject + '.response') return;
        clearTimeout(timer);
        window.removeEventListener('message', onMessage);
        if (data.error) reject(new Error(String(data.error.code || 'error'))); else resolve(data);
      }
      window.addEventListener('message', onMessage);
      target.postMessage(Object.assign({ message_id: id }, message), origin);
    });
  }
  return { targetWindow: targetWindow, send: send };
})();

(function () {
  const page = document.getElementById('lti-storage-check');
  if (!page) return;
  const d = page.dataset;
  const storage = window.ltiPlatformStorage;
  const target = storage.targetWindow(d.storageTarget);
  const get = (key) => storage.send(target, d.platformOrigin, { subject: 'lti.get_data', key: key }, 3000).then((r) => r.value);
  const fail = () => { document.getElementById('lti-storage-failed').hidden = false; };
  if (!target) return fail();
  Promise.all([get('state_' + d.state), get('nonce_' + d.nonce)]).then(function (values) {
    if (values[0] === d.state && values[1] === d.nonce) document.getElementById('lti-storage-continue').submit(); else fail();
  }, fail);
})();
