// Passkey ceremonies for forms marked data-passkey="register" or "authenticate". The form stays
// hidden unless this browser can use passkeys; its button asks the browser (and the authenticator)
// to answer the options the server put in data-options, puts the answer in the hidden
// "credential" field and submits the form. Uses @simplewebauthn/browser (served as /static/webauthn.js).
(function () {
  'use strict';
  var webauthn = window.SimpleWebAuthnBrowser;
  if (!webauthn || !webauthn.browserSupportsWebAuthn()) return;
  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    var start = form.querySelector('[data-passkey-start]');
    var failed = form.querySelector('[data-passkey-failed]');
    form.hidden = false;
    start.addEventListener('click', function () {
      var optionsJSON = JSON.parse(form.getAttribute('data-options'));
      var ceremony = form.getAttribute('data-passkey') === 'register' ? webauthn.startRegistration : webauthn.startAuthentication;
      start.disabled = true;
      failed.hidden = true;
      ceremony({ optionsJSON: optionsJSON }).then(function (answer) {
        form.elements.namedItem('credential').value = JSON.stringify(answer);
        form.submit();
      }, function () {
        start.disabled = false;
        failed.hidden = false;
        failed.focus();
      });
    });
  });
  document.querySelectorAll('[data-passkey-unsupported]').forEach(function (note) {
    note.hidden = true;
  });
})();
