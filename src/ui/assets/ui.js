// keystack ui: the one client script. A page showing something still running has
// <body data-live="/api/…" data-live-state="…">; this polls that JSON (the same document as the
// CLI's --json) and reloads the page once the state it was rendered from has changed, so the
// server-rendered view stays the only view. The state is the statuses only (liveState in pages.ts).
'use strict';
(function () {
  var url = document.body.getAttribute('data-live');
  var rendered = document.body.getAttribute('data-live-state');
  if (!url || rendered === null) return;
  function state(doc) {
    if (doc.run) {
      return [doc.run.status]
        .concat(
          doc.steps.map(function (s) {
            return s.step + ':' + s.status;
          }),
        )
        .join(',');
    }
    return doc.runs
      .map(function (r) {
        return r.id + ':' + r.status;
      })
      .join(',');
  }
  function poll() {
    fetch(url, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (doc) {
        if (doc === null) return;
        if (state(doc) !== rendered) window.location.reload();
        else setTimeout(poll, 1000);
      })
      .catch(function () {
        setTimeout(poll, 3000);
      });
  }
  setTimeout(poll, 1000);
})();

// The leaked-value search. A plain form POST would carry `Origin: null` (the pages send
// Referrer-Policy: no-referrer), which the server refuses; fetch sends this page's origin. The
// form is cleared before the request leaves, and the answer replaces the page's body: the value
// is in no URL and no history entry.
document.addEventListener('submit', function (ev) {
  var form = ev.target;
  if (!(form instanceof HTMLFormElement) || form.getAttribute('method') !== 'post') return;
  ev.preventDefault();
  var body = new URLSearchParams(new FormData(form));
  form.reset();
  fetch(form.getAttribute('action'), { method: 'POST', body: body, credentials: 'same-origin', cache: 'no-store' })
    .then(function (r) {
      return r.text();
    })
    .then(function (text) {
      var doc = new DOMParser().parseFromString(text, 'text/html');
      document.title = doc.title || 'keystack';
      document.body.replaceWith(document.adoptNode(doc.body));
    });
});
