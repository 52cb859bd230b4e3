// Shown only when the app itself cannot start (no WebAssembly, the module failed to load):
// once running, the app owns the status line. A file, not an inline script, so the page runs
// under a Content-Security-Policy without 'unsafe-inline'.
(function () {
  var status = document.getElementById('status');
  function fail(text) {
    if (window.twinlens || !status) return;
    status.textContent = text;
    status.className = 'error';
  }
  if (typeof WebAssembly !== 'object') {
    fail('twinlens cannot start: this browser has no WebAssembly support. Use a current Chrome, Edge, Firefox, Safari or Quest Browser.');
    return;
  }
  window.addEventListener('error', function (e) {
    if (!window.twinlens) fail('twinlens could not start: ' + (e.message || 'a script failed to load') + '. Reload the page; if it persists, check the browser console.');
  });
  setTimeout(function () {
    fail('twinlens did not start within 30 s: the app download may have failed. Check the connection and reload.');
  }, 30000);
})();
