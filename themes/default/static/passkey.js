// Passkeys on Sésame's pages (docs/passkeys.md). The form with id "passkey-form" says
// which ceremony by its data-passkey attribute:
//   discover      the login page: sign in by passkey alone (button, and the browser's
//                 autofill where it offers passkeys there)
//   authenticate  the verification page: the account's passkey as second factor
//   register      the enrollment's passkey page
//   account       the security page: add a passkey
// The script asks the server for the ceremony's options (WebAuthn JSON), hands them to
// the browser, and posts the authenticator's answer (its JSON form) in the form's
// "credential" field. Without passkey support, the page says so.
(function () {
  "use strict";
  var form = document.getElementById("passkey-form");
  if (!form) return;
  var kind = form.getAttribute("data-passkey");
  var supported = !!(window.PublicKeyCredential && navigator.credentials);
  var unsupported = document.getElementById("passkey-unsupported");
  var button = form.querySelector("button[type=button]");

  if (!supported) {
    if (unsupported) unsupported.hidden = false;
    if (button) button.hidden = true;
    return;
  }
  form.hidden = false;

  function field(name) {
    var input = form.querySelector("input[name=" + name + "]");
    return input ? input.value : "";
  }

  function b64urlToBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function bytesToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: b64urlToBytes(d.id) });
    });
  }

  // The WebAuthn Level 3 JSON forms to the browser's objects, where the browser lacks
  // PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    var options = Object.assign({}, json, { challenge: b64urlToBytes(json.challenge) });
    options.user = Object.assign({}, json.user, { id: b64urlToBytes(json.user.id) });
    options.excludeCredentials = withIds(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    var options = Object.assign({}, json, { challenge: b64urlToBytes(json.challenge) });
    options.allowCredentials = withIds(json.allowCredentials);
    return options;
  }

  function credentialJson(credential) {
    if (credential.toJSON) return credential.toJSON();
    var r = credential.response;
    var response = { clientDataJSON: bytesToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = bytesToB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = bytesToB64url(r.authenticatorData);
      response.signature = bytesToB64url(r.signature);
      if (r.userHandle) response.userHandle = bytesToB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: bytesToB64url(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    };
  }

  function fetchOptions() {
    var base = document.documentElement.getAttribute("data-base") || "";
    var url = base + (kind === "account" ? "/account/passkeys/options" : "/login/passkey/options");
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tx: field("tx"), csrf_token: field("csrf_token") }),
    }).then(function (answer) {
      return answer.json().then(function (body) {
        if (!answer.ok) throw new Error(body.error_description || body.error || "passkey options");
        return body;
      });
    });
  }

  function submit(credential) {
    form.querySelector("input[name=credential]").value = JSON.stringify(credentialJson(credential));
    form.submit();
  }

  function ceremony(mediation, signal) {
    return fetchOptions().then(function (options) {
      if (kind === "register" || kind === "account") {
        return navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
      }
      var request = { publicKey: requestOptions(options.publicKey) };
      if (mediation) request.mediation = mediation;
      if (signal) request.signal = signal;
      return navigator.credentials.get(request);
    });
  }

  // The autofill prompt (login page), aborted when the button is used instead.
  var autofill = null;
  if (kind === "discover" && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available) return;
      autofill = new AbortController();
      ceremony("conditional", autofill.signal).then(function (credential) {
        if (credential) submit(credential);
      }).catch(function () { /* aborted or dismissed: the form stays */ });
    });
  }

  if (button) {
    button.addEventListener("click", function () {
      if (autofill) autofill.abort();
      button.disabled = true;
      ceremony(null, null).then(function (credential) {
        if (credential) submit(credential);
      }).catch(function () {
        button.disabled = false;
        // The answer travels empty: the server says what went wrong in the page's words.
        if (kind !== "discover" && kind !== "account") form.submit();
      });
    });
  }
})();
