// The push waiting page: asks Sésame every 1.5 s where the login's request stands and
// continues as soon as the phone approved it. Without JavaScript, the "I approved on
// my phone" button does the same.
(function () {
  "use strict";
  var box = document.getElementById("push-wait");
  var form = document.getElementById("push-complete");
  if (!box || !form) return;
  var tx = box.getAttribute("data-tx");
  // Sésame's path when it is mounted under one (the issuer's path), "" at the root.
  var base = document.documentElement.getAttribute("data-base") || "";
  function check() {
    fetch(base + "/login/verify/push-status?tx=" + encodeURIComponent(tx), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (status.state === "approved") {
          form.submit();
        } else if (status.state === "pending") {
          setTimeout(check, 1500);
        } else {
          // Denied, wrong number, expired: the page says which and offers to retry.
          window.location.href = base + "/login/verify?method=push&tx=" + encodeURIComponent(tx);
        }
      })
      .catch(function () { setTimeout(check, 3000); });
  }
  setTimeout(check, 1500);
})();
