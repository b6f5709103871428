// Every page: a page the browser brings back from its back-forward cache (the Back
// button, without asking the server) is read again, so that a login's page shows the
// step the login is at now, never a form of a step already passed.
(function () {
  "use strict";
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });
})();
