// LTI Dynamic Registration 1.0: tell the platform the registration is finished so it can close this window or frame.
(function () {
  function close() {
    (window.opener || window.parent).postMessage({ subject: 'org.imsglobal.lti.close' }, '*');
  }
  // Only on the admin's click: closing at once would hide the "pending" and "no deployment" notices.
  document.getElementById('close-registration').addEventListener('click', close);
})();
