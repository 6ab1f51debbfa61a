// matrix-kit sticker picker: a Matrix widget speaking the widget API over postMessage
// (https://spec.matrix.org/unstable/widgets/, matrix-widget-api). The client asks for the
// widget's capabilities ("m.sticker"); a click on a sticker then sends an m.sticker request
// with the sticker's mxc URL and info, and the client posts it in the room. Packs are the JSON
// files `npm run stickers` writes next to this page (packs/index.json, packs/<pack>.json) and
// the images beside them, so nothing here needs the homeserver's (authenticated) media API.
//
// Element keeps this page alive while the picker is closed and reopened (it recreates the frame
// only when the widget's URL changes), telling it with `visibility`: the packs are read again
// each time the picker is shown, so a pack added meanwhile is there.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var widgetId = params.get("widgetId");
  // The widget API versions this page speaks (notify_capabilities is 0.0.2's).
  var API_VERSIONS = ["0.0.1", "0.0.2"];
  var CAPABILITIES = ["m.sticker"];
  // Element adds parentUrl to a widget's URL: replies and requests go to that origin only. Element
  // Desktop's parentUrl is vector://vector/webapp/, whose origin a browser may give as "null":
  // then the origin of the first toWidget request from the parent window is taken, and kept.
  var parentOrigin = originOf(params.get("parentUrl"));
  var ready = false;
  var nextRequest = 0;
  var pending = {};
  var loads = 0;
  var statusEl = document.getElementById("status");
  var packsEl = document.getElementById("packs");

  function originOf(url) {
    try {
      var origin = url ? new URL(url).origin : null;
      return origin && origin !== "null" ? origin : null;
    } catch (e) {
      return null;
    }
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.className = isError ? "error" : "";
  }

  // The client's theme: Element fills the `theme` URL parameter ($org.matrix.msc2873.client_theme)
  // and sends theme_change when the user switches; its dark themes have "dark" in their name.
  function setTheme(name) {
    if (!name || name.charAt(0) === "$") return;
    document.documentElement.setAttribute("data-theme", /dark/i.test(name) ? "dark" : "light");
  }

  function post(message) {
    // Nothing is sent before the parent's origin is known (only replies follow a request).
    if (parentOrigin) window.parent.postMessage(message, parentOrigin);
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
    var data = msg.data || {};
    switch (msg.action) {
      case "supported_api_versions":
        reply(msg, { supported_versions: API_VERSIONS });
        return;
      case "capabilities":
        reply(msg, { capabilities: CAPABILITIES });
        // Clients before notify_capabilities (widget API 0.0.1) approve by asking.
        ready = true;
        setStatus("Click a sticker to send it.");
        return;
      case "notify_capabilities":
        reply(msg, {});
        ready = (data.approved || []).indexOf("m.sticker") >= 0;
        setStatus(ready ? "Click a sticker to send it." : "Your client did not allow this widget to send stickers.", !ready);
        return;
      case "visibility":
        reply(msg, {});
        if (data.visible === true || msg.visible === true) loadPacks();
        return;
      case "theme_change":
        reply(msg, {});
        setTheme(data.name);
        return;
      case "language_change":
        reply(msg, {});
        return;
      default:
        reply(msg, { error: { message: "matrix-kit stickers: unsupported action " + msg.action } });
    }
  }

  window.addEventListener("message", function (ev) {
    if (ev.source !== window.parent) return;
    var msg = ev.data;
    if (!msg || typeof msg !== "object" || (widgetId && msg.widgetId !== widgetId)) return;
    if (!parentOrigin && msg.api === "toWidget" && !msg.response && ev.origin && ev.origin !== "null") parentOrigin = ev.origin;
    if (ev.origin !== parentOrigin) return;
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
    // body: older clients take the sticker's text from the content; Element from description.
    var content = { body: sticker.body, url: sticker.url, info: sticker.info };
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

  function packSection(pack) {
    var section = document.createElement("section");
    section.setAttribute("data-pack", pack.id);
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
    return section;
  }

  function getJson(path) {
    return fetch(path, { cache: "no-cache" }).then(function (r) {
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }

  // Reads the packs and shows them; a load overtaken by a later one is dropped.
  function loadPacks() {
    var load = ++loads;
    return getJson("packs/index.json")
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
        if (load !== loads) return;
        packsEl.replaceChildren.apply(packsEl, packs.map(packSection));
        if (packs.length === 0) {
          var p = document.createElement("p");
          p.className = "empty";
          p.innerHTML = "No stickers yet. Add a folder of images with <code>npm run stickers -- --stack &lt;name&gt; add &lt;folder&gt;</code>.";
          packsEl.appendChild(p);
        }
        document.body.setAttribute("data-packs-loaded", String(packs.length));
        document.body.setAttribute("data-loads", String(load));
      })
      .catch(function (e) {
        if (load === loads) setStatus("Could not load the sticker packs: " + e.message, true);
      });
  }

  setTheme(params.get("theme"));
  loadPacks();
})();
