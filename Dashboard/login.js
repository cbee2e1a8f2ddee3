// Sign in, accept an invitation (typed, or from an invitation link #/join/<code>), and the account page.
import { api, session } from "/assets/api.js";
import { actionForm, el } from "/assets/ui.js";

/** Sign-in and invitation forms; `invitation` (from `#/join/<code>`) fills in the code. */
export async function renderLogin(main, invitation = "") {
  const message = el("p", { class: "error", role: "alert" });
  const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = el("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const signIn = el("form", { class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      session.save(await api("/api/v1/auth/login", { method: "POST", body: { email: email.value, password: password.value }, retry: false }));
      location.hash = "#/floor";
    } catch (error) {
      message.textContent = error.status === 401 ? "Wrong e-mail or password." : error.message;
    }
  } },
  el("h1", {}, "Sign in"),
  el("label", { for: "email" }, "E-mail"), email,
  el("label", { for: "password" }, "Password"), password,
  el("button", { type: "submit", id: "sign-in" }, "Sign in"), message);

  const token = el("input", { id: "invitation", autocomplete: "off", required: true, value: invitation });
  const newPassword = el("input", { id: "new-password", type: "password", autocomplete: "new-password", minlength: 12, required: true });
  const name = el("input", { id: "display-name", autocomplete: "name" });
  const acceptMessage = el("p", { class: "error", role: "alert" });
  const accept = el("form", { class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    try {
      session.save(await api("/api/v1/invitations/accept", { method: "POST", retry: false,
        body: { token: token.value.trim(), password: newPassword.value, display_name: name.value || undefined } }));
      location.hash = "#/floor";
    } catch (error) { acceptMessage.textContent = error.message; }
  } },
  el("h2", {}, "Accept an invitation"),
  el("label", { for: "invitation" }, "Invitation code"), token,
  el("label", { for: "display-name" }, "Your name"), name,
  el("label", { for: "new-password" }, "Choose a password (12 characters or more)"), newPassword,
  el("button", { type: "submit" }, "Join"), acceptMessage);

  main.replaceChildren(...(invitation ? [accept, signIn] : [signIn, accept]));
  (invitation ? name : email).focus();
}

/** The signed-in person's own page: who they are, a new password, signing out on every device. */
export async function renderAccount(main, me) {
  const everywhere = el("button", { type: "button", class: "secondary", id: "sign-out-everywhere", onclick: async () => {
    if (!confirm("Sign out on every device, this one included?")) return;
    try { await api("/api/v1/auth/logout-everywhere", { method: "POST" }); } catch { /* signed out here either way */ }
    session.clear();
    location.hash = "#/login";
  } }, "Sign out everywhere");
  main.replaceChildren(el("h1", {}, "Your account"),
    el("p", {}, `${me.display_name || me.email} (${me.email}), ${me.role} in tenant ${me.tenant}.`),
    passwordForm(), el("section", { class: "card narrow" }, el("h2", {}, "Sessions"),
      el("p", { class: "hint" }, "Signed in on a shared screen and left it? This ends every session of yours."), everywhere));
}

/** A password change form: the current session stays, every other one of the person's ends. */
function passwordForm() {
  const current = el("input", { id: "current-password", type: "password", autocomplete: "current-password", required: true });
  const next = el("input", { id: "next-password", type: "password", autocomplete: "new-password", minlength: 12, required: true });
  return actionForm({ class: "card narrow", id: "password-form" }, async () => {
    await api("/api/v1/auth/password", { method: "POST", body: { current_password: current.value, new_password: next.value } });
    current.value = next.value = "";
    return "Password changed. Your other sessions were signed out.";
  },
  el("h2", {}, "Change your password"),
  el("label", { for: "current-password" }, "Current password"), current,
  el("label", { for: "next-password" }, "New password (12 characters or more)"), next,
  el("button", { type: "submit", id: "change-password" }, "Change password"));
}
