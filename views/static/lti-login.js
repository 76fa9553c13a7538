// The login inside the platform's iframe: keep the state where the launch can find it again.
// 1. The platform offers storage (lti_storage_target): put state and nonce there, then go on.
// 2. Otherwise, go on only if the browser sent our state cookie back; if it refused the cookie,
//    offer a new window, where the cookie is first-party (the platform's hint is still unused).
(function () {
  const d = document.getElementById('lti-login').dataset;
  const proceed = () => window.location.replace(d.authUrl);
  const blocked = () => {
    document.querySelector('[data-testid="login-progress"]').hidden = true;
    document.getElementById('lti-login-blocked').hidden = false;
  };
  const checkCookie = () => fetch(d.cookieCheckUrl, { credentials: 'include' })
    .then((r) => r.json()).then((r) => (r.cookie ? proceed() : blocked()), blocked);
  const storage = window.ltiPlatformStorage;
  const target = d.storageTarget ? storage.targetWindow(d.storageTarget) : null;
  if (!target) return checkCookie();
  const put = (key, value) => storage.send(target, d.platformOrigin, { subject: 'lti.put_data', key: key, value: value }, 3000);
  Promise.all([put('state_' + d.state, d.state), put('nonce_' + d.nonce, d.nonce)]).then(proceed, checkCookie);
})();
