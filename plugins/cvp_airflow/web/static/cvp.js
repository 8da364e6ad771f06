/* Formularios OAC: checks as the person types, one submission per click, upload pre-checks.
   No libraries, no network beyond this server. Every text shown comes from textContent (never HTML). */
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }
  var BASE = meta("cvp-base");
  var CSRF = meta("cvp-csrf");
  var SEVERITY = { error: "Error", warning: "Advertencia", info: "Información" };
  var CHANNEL_NAMES = { x: "X (Twitter)", facebook: "Facebook", instagram: "Instagram", youtube: "YouTube",
    sitio_web: "Sitio web de la CVP" };

  function miles(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "."); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  /* One submission per form: a double click records one decision (the server is idempotent too). */
  function guardForms() {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (ev.defaultPrevented) { return; }
        if (form.dataset.sent === "1") { ev.preventDefault(); return; }
        form.dataset.sent = "1";
        window.setTimeout(function () {
          form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
        }, 0);
      });
    });
  }

  /* The head's decision: returning needs a comment (the server refuses it too). */
  function guardDecision() {
    var form = document.querySelector("form[data-decision]");
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      var submitter = ev.submitter;
      var comment = form.querySelector("#comentario");
      var error = form.querySelector("[data-error-comentario]");
      if (submitter && submitter.value === "devuelto" && comment && !comment.value.trim()) {
        ev.preventDefault();
        error.classList.remove("oculto");
        comment.setAttribute("aria-invalid", "true");
        comment.focus();
      } else if (error) {
        error.classList.add("oculto");
      }
    }, true);
  }

  /* Live checks: the same endpoint and the same weighted count as the server. */
  function renderReport(channel, report) {
    var counter = document.getElementById("contador-" + channel);
    if (counter) {
      var len = report.longitud;
      var value = counter.querySelector("[data-contador-valor]");
      if (value) { value.textContent = miles(len.valor); }
      counter.classList.toggle("contador-excedido", !!len.limite && len.valor > len.limite);
      counter.classList.toggle("contador-cerca", !!len.limite && len.valor <= len.limite && len.valor >= 0.9 * len.limite);
      var title = counter.querySelector("[data-contador-titulo]");
      if (title && report.longitud_titulo) { title.textContent = report.longitud_titulo.valor; }
    }
    var summary = document.getElementById("resumen-" + channel);
    if (summary) {
      var errors = report.conteo.error;
      summary.textContent = report.bloqueante
        ? "Tiene " + errors + (errors === 1 ? " error que impide" : " errores que impiden") + " presentarlo."
        : (report.hallazgos.length ? "Sin errores; la Jefe OAC verá " +
          (report.hallazgos.length === 1 ? "esta observación." : "estas " + report.hallazgos.length + " observaciones.") :
          "Sin observaciones.");
    }
    var box = document.querySelector('[data-hallazgos="' + channel + '"]');
    if (box) {
      box.textContent = "";
      if (report.hallazgos.length) {
        var list = el("ul", "hallazgos");
        report.hallazgos.forEach(function (f) {
          var li = el("li", "hallazgo hallazgo-" + f.severidad);
          li.appendChild(el("span", "severidad", SEVERITY[f.severidad] || f.severidad));
          li.appendChild(document.createTextNode(" " + f.mensaje));
          if (f.inicio !== null && f.fin !== null) {
            li.appendChild(el("span", "posicion", " (" + (f.campo === "titulo" ? "título" : "texto") + ", caracteres " +
              f.inicio + " a " + f.fin + ")"));
          }
          if (f.sugerencia) {
            li.appendChild(el("br"));
            li.appendChild(el("span", "sugerencia", "Sugerencia: " + f.sugerencia));
          }
          list.appendChild(li);
        });
        box.appendChild(list);
      }
    }
  }

  function liveChecks() {
    var form = document.querySelector("form[data-editor]");
    if (!form) { return; }
    var areas = form.querySelectorAll("textarea[data-check-channel]");
    var titleInput = form.querySelector("[data-check-title]");
    var blocking = {};
    var banner = form.querySelector("[data-bloqueo]");
    var timers = {};
    var seq = {};

    function updateBanner() {
      var names = Object.keys(blocking).filter(function (c) { return blocking[c]; });
      if (!banner) { return; }
      if (names.length) {
        banner.textContent = "Hay errores que impiden presentar el texto en: " +
          names.map(function (c) { return CHANNEL_NAMES[c] || c; }).join(", ") + ". Corríjalos antes de presentar.";
        banner.classList.remove("oculto");
      } else {
        banner.classList.add("oculto");
      }
    }

    function check(area) {
      var channel = area.getAttribute("data-check-channel");
      var mine = (seq[channel] = (seq[channel] || 0) + 1);
      fetch(BASE + "/api/verificar", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF, "Accept": "application/json" },
        body: JSON.stringify({ canal: channel, texto: area.value, titulo: titleInput ? titleInput.value : "" })
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (report) {
        if (!report || mine !== seq[channel]) { return; }
        renderReport(channel, report);
        blocking[channel] = report.bloqueante;
        updateBanner();
      }).catch(function () { /* the server checks again at submission */ });
    }

    function schedule(area) {
      var channel = area.getAttribute("data-check-channel");
      window.clearTimeout(timers[channel]);
      timers[channel] = window.setTimeout(function () { check(area); }, 350);
    }

    areas.forEach(function (area) {
      if (area.readOnly) { return; }
      area.addEventListener("input", function () { schedule(area); });
    });
    if (titleInput) {
      titleInput.addEventListener("input", function () {
        areas.forEach(function (area) {
          if (area.getAttribute("data-check-channel") === "youtube") { schedule(area); }
        });
      });
    }
  }

  /* Upload: say at once when the file is too large or of a type the server will refuse. */
  function uploadChecks() {
    var form = document.querySelector("form[data-upload]");
    if (!form) { return; }
    var input = form.querySelector("#archivo");
    var error = form.querySelector("[data-error-archivo]");
    var preview = form.querySelector("[data-previa-local]");
    var img = form.querySelector("[data-previa-img]");
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var allowed = /\.(png|jpe?g|gif|webp|pdf|mp4|mov)$/i;

    function problem() {
      var file = input.files && input.files[0];
      if (!file) { return "Elija el archivo del diseño."; }
      if (!allowed.test(file.name)) {
        return "Tipo de archivo no admitido: use PNG, JPEG, GIF, WebP, PDF, MP4 o MOV.";
      }
      if (file.size > max) {
        return "El archivo pesa " + (file.size / 1048576).toFixed(1).replace(".", ",") + " MB; el máximo es " +
          Math.round(max / 1048576) + " MB.";
      }
      return "";
    }

    input.addEventListener("change", function () {
      var msg = problem();
      error.textContent = msg;
      error.classList.toggle("oculto", !msg);
      input.setAttribute("aria-invalid", msg ? "true" : "false");
      var file = input.files && input.files[0];
      if (!msg && file && /^image\//.test(file.type)) {
        img.src = URL.createObjectURL(file);
        preview.classList.remove("oculto");
      } else {
        preview.classList.add("oculto");
      }
    });
    form.addEventListener("submit", function (ev) {
      var msg = problem();
      if (msg) {
        ev.preventDefault();
        error.textContent = msg;
        error.classList.remove("oculto");
        input.focus();
      }
    }, true);
  }

  function focusErrors() {
    var box = document.getElementById("error-formulario");
    if (box) { box.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    guardDecision();
    guardForms();
    liveChecks();
    uploadChecks();
    focusErrors();
  });
})();
