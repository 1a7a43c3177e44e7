// keystack ui: the one client script. A page showing something still running has
// <body data-live="/api/…">; this polls that JSON (the same document as the CLI's --json) and
// reloads the page when it changes, so the server-rendered view stays the only view.
'use strict';
(function () {
  var url = document.body.getAttribute('data-live');
  if (!url) return;
  var last = null;
  function poll() {
    fetch(url, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        return r.ok ? r.text() : null;
      })
      .then(function (text) {
        if (text === null) return;
        if (last !== null && text !== last) {
          window.location.reload();
          return;
        }
        last = text;
        setTimeout(poll, 1000);
      })
      .catch(function () {
        setTimeout(poll, 3000);
      });
  }
  poll();
})();
