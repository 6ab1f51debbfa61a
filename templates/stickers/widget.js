// matrix-kit sticker picker: a Matrix widget speaking the widget API over postMessage
// (https://spec.matrix.org/unstable/widgets/, matrix-widget-api). The client asks for the
// widget's capabilities ("m.sticker"); a click on a sticker then sends an m.sticker request
// with the sticker's mxc URL and info, and the client posts it in the room. Packs are the JSON
// files `npm run stickers` writes next to this page (packs/index.json, packs/<pack>.json) and
// the images beside them, so nothing here needs the homeserver's (authenticated) media API.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var widgetId = params.get("widgetId");
  // Element adds parentUrl to a widget's URL: replies and requests go to that origin only.
  var parentOrigin = null;
  try {
    parentOrigin = params.get("parentUrl") ? new URL(params.get("parentUrl")).origin : null;
  } catch (e) {
    parentOrigin = null;
  }
  var CAPABILITIES = ["m.sticker"];
  var ready = false;
  var nextRequest = 0;
  var pending = {};
  var statusEl = document.getElementById("status");
  var packsEl = document.getElementById("packs");

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.className = isError ? "error" : "";
  }

  function post(message) {
    window.parent.postMessage(message, parentOrigin || "*");
  }

  function reply(request, response) {
    post(Object.assign({}, request, { response: response }));
  }

  function request(action, data) {
    var requestId = "kit-stickers-" + ++nextRequest;
    return new Promise(function (resolve, reject) {
      pending[requestId] = { resolve: resolve, reject: reject };
      post({ api: "fromWidget", widgetId: widgetId, requestId: requestId, action: action, data: data });
      setTimeout(function () {
        if (pending[requestId]) {
          delete pending[requestId];
          reject(new Error("the client did not answer " + action));
        }
      }, 10000);
    });
  }

  function onToWidget(msg) {
    switch (msg.action) {
      case "capabilities":
        reply(msg, { capabilities: CAPABILITIES });
        // Clients before notify_capabilities (widget API 0.0.1) approve by asking.
        ready = true;
        setStatus("Click a sticker to send it.");
        return;
      case "notify_capabilities":
        reply(msg, {});
        ready = ((msg.data && msg.data.approved) || []).indexOf("m.sticker") >= 0;
        setStatus(ready ? "Click a sticker to send it." : "Your client did not allow this widget to send stickers.", !ready);
        return;
      case "visibility":
      case "theme_change":
      case "language_change":
        reply(msg, {});
        return;
      default:
        reply(msg, { error: { message: "matrix-kit stickers: unsupported action " + msg.action } });
    }
  }

  window.addEventListener("message", function (ev) {
    if (ev.source !== window.parent) return;
    if (parentOrigin && ev.origin !== parentOrigin) return;
    var msg = ev.data;
    if (!msg || typeof msg !== "object" || (widgetId && msg.widgetId !== widgetId)) return;
    if (msg.api === "toWidget" && !msg.response) {
      if (!widgetId) widgetId = msg.widgetId;
      onToWidget(msg);
    } else if (msg.api === "fromWidget" && msg.response && pending[msg.requestId]) {
      var p = pending[msg.requestId];
      delete pending[msg.requestId];
      if (msg.response.error) p.reject(new Error(msg.response.error.message || "refused"));
      else p.resolve(msg.response);
    }
  });

  function send(sticker, button) {
    if (!ready) {
      setStatus("Not connected to a Matrix client yet.", true);
      return;
    }
    button.disabled = true;
    var content = { url: sticker.url, info: sticker.info };
    request("m.sticker", { name: sticker.body, description: sticker.body, content: content })
      .then(function () {
        setStatus("Sent " + sticker.body + ".");
      })
      .catch(function (e) {
        setStatus("Could not send " + sticker.body + ": " + e.message, true);
      })
      .then(function () {
        button.disabled = false;
      });
  }

  function showPack(pack) {
    var section = document.createElement("section");
    var title = document.createElement("h2");
    title.textContent = pack.title;
    section.appendChild(title);
    var grid = document.createElement("div");
    grid.className = "grid";
    pack.stickers.forEach(function (sticker) {
      var button = document.createElement("button");
      button.className = "sticker";
      button.type = "button";
      button.title = sticker.body;
      button.setAttribute("data-mxc", sticker.url);
      var img = document.createElement("img");
      img.src = "packs/" + sticker.file;
      img.alt = sticker.body;
      img.loading = "lazy";
      button.appendChild(img);
      button.addEventListener("click", function () {
        send(sticker, button);
      });
      grid.appendChild(button);
    });
    section.appendChild(grid);
    packsEl.appendChild(section);
  }

  function getJson(path) {
    return fetch(path, { cache: "no-cache" }).then(function (r) {
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }

  getJson("packs/index.json")
    .catch(function () {
      return { packs: [] };
    })
    .then(function (index) {
      return Promise.all(
        index.packs.map(function (id) {
          return getJson("packs/" + encodeURIComponent(id) + ".json");
        }),
      );
    })
    .then(function (packs) {
      packs.forEach(showPack);
      document.body.setAttribute("data-packs-loaded", String(packs.length));
      if (packs.length === 0) {
        var p = document.createElement("p");
        p.className = "empty";
        p.innerHTML = "No stickers yet. Add a folder of images with <code>npm run stickers -- --stack &lt;name&gt; add &lt;folder&gt;</code>.";
        packsEl.appendChild(p);
      }
    })
    .catch(function (e) {
      setStatus("Could not load the sticker packs: " + e.message, true);
    });
})();
