// Start-up shared by every page: translations applied, then the signed-in
// user, and the navigation for their role.
import { me } from "./api.js";
import { apply } from "./i18n.js";
import { renderNav } from "./nav.js";

const STAFF_HOME = "/ui/requests.html";

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
  // Staff may open only the car requests: any other page (the live map
  // after logging in) sends them there.
  if (user.role === "staff" && location.pathname !== STAFF_HOME) {
    location.assign(STAFF_HOME);
    return null;
  }
  renderNav(user);
  return user;
}
