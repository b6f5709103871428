// Front-Channel Logout 1.0: goes on to the application once every application's logout
// frame has loaded, or after two seconds if one is slow or unreachable. Without
// scripts, the page's meta refresh and its link do the same, a little later.
(function () {
  var link = document.getElementById("logout-continue");
  if (!link) {
    return;
  }
  var frames = document.querySelectorAll("iframe.frontchannel-logout");
  var waiting = frames.length;
  var gone = false;
  function go() {
    if (!gone) {
      gone = true;
      window.location.replace(link.href);
    }
  }
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () {
      waiting -= 1;
      if (waiting <= 0) {
        go();
      }
    });
  });
  window.setTimeout(go, 2000);
})();
