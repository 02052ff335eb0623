// Start-up shared by every page: translations applied, then the signed-in
// user.
import { me } from "./api.js";
import { apply } from "./i18n.js";

// startPage applies the page's translations and returns the signed-in
// user, or null when there is none (api.js has gone to the login page).
export async function startPage() {
  apply();
  try {
    return await me();
  } catch {
    return null;
  }
}
