// The console's times: the server writes each one in UTC (`<time datetime="…Z"
// data-local>2026-11-28 17:09:05 UTC</time>`, readable without JavaScript); this
// rewrites them in the browser's own time zone and the page's language, and keeps the
// UTC text as the tooltip. It fetches nothing, so it needs no `data-base`.
(function () {
  "use strict";
  var times = document.querySelectorAll("time[datetime][data-local]");
  if (!times.length || typeof Intl === "undefined") return;
  var lang = document.documentElement.getAttribute("lang") || undefined;
  var format;
  try {
    format = new Intl.DateTimeFormat(lang, {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
      timeZoneName: "short"
    });
  } catch (e) {
    return;
  }
  for (var i = 0; i < times.length; i++) {
    var time = times[i];
    var when = new Date(time.getAttribute("datetime"));
    if (isNaN(when.getTime())) continue;
    time.title = time.textContent;
    time.textContent = format.format(when);
    time.setAttribute("data-localized", "");
  }
})();
