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
