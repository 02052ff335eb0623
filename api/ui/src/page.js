// Start-up shared by every page: translations applied, then the signed-in
// user, and the navigation for their role.
import { me } from "./api.js";
import { apply } from "./i18n.js";
import { renderNav } from "./nav.js";

// startPage applies the page's translations and returns the signed-in
// user, or null when there is none (api.js has gone to the login page).
export async function startPage() {
  apply();
  let user;
  try {
    user = await me();
  } catch {
    return null;
  }
  renderNav(user);
  return user;
}
