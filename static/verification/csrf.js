// The CSRF token a page's JSON posts carry (Django's csrftoken cookie), for every
// page script that posts: the review page, the map.

export function csrfToken() {
  const prefix = "csrftoken=";
  for (const part of document.cookie.split(";")) {
    const trimmed = part.trim();
    if (trimmed.startsWith(prefix)) {
      return decodeURIComponent(trimmed.slice(prefix.length));
    }
  }
  return "";
}
