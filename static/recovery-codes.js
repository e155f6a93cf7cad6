// The recovery codes page: buttons that copy the codes (navigator.clipboard, with the result said
// in the live region) and print the page. They stay hidden without JavaScript, where the codes are
// written down or printed from the browser's menu.
(function () {
  'use strict';
  var actions = document.querySelector('[data-recovery-actions]');
  var result = document.querySelector('[data-copy-result]');
  if (!actions || !result) return;
  var codes = Array.prototype.map.call(document.querySelectorAll('#recovery-codes code'), function (code) {
    return code.textContent.trim();
  });
  var copy = actions.querySelector('[data-copy-codes]');
  if (navigator.clipboard && window.isSecureContext) {
    copy.addEventListener('click', function () {
      navigator.clipboard.writeText(codes.join('\n') + '\n').then(function () {
        result.textContent = result.getAttribute('data-copied');
      }, function () {
        result.textContent = result.getAttribute('data-copy-failed');
      });
    });
  } else {
    copy.hidden = true;
  }
  actions.querySelector('[data-print-codes]').addEventListener('click', function () {
    window.print();
  });
  actions.hidden = false;
})();
