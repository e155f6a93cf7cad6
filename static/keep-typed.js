// Keeps what a person typed across the language link: when it is followed, the filled-in fields of
// the page's forms go to sessionStorage, and the same page in the other language puts them back
// (once, then forgets them). Never a password, a hidden field (the CSRF token among them) or a file.
(function () {
  'use strict';
  var KEY = 'kid.typed';
  var SKIPPED = ['password', 'hidden', 'file', 'submit', 'button', 'reset', 'image', 'fieldset'];
  function fieldsOf(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      return field.name && SKIPPED.indexOf(field.type) < 0;
    });
  }

  var saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    sessionStorage.removeItem(KEY);
  } catch (e) {
    return; // storage refused (a private window's settings): the link works as before
  }
  if (saved && saved.path === location.pathname) {
    Array.prototype.forEach.call(document.forms, function (form, i) {
      var values = saved.forms[i] || [];
      fieldsOf(form).forEach(function (field, j) {
        var value = values[j];
        if (!value || value.name !== field.name) return;
        if (field.type === 'checkbox' || field.type === 'radio') field.checked = value.checked;
        else field.value = value.value;
      });
    });
  }

  var link = document.querySelector('a.header__lang');
  if (!link) return;
  link.addEventListener('click', function () {
    var forms = Array.prototype.map.call(document.forms, function (form) {
      return fieldsOf(form).map(function (field) {
        return { name: field.name, value: field.value, checked: field.checked };
      });
    });
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ path: link.pathname, forms: forms }));
    } catch (e) {
      // storage full or refused: the other language comes without the typed values
    }
  });
})();
