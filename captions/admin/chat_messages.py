"""Chat messages (OpenAI format, exactly as sent) laid out for an admin page."""

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

# Only images carried in the message itself are shown: a remote URL in a stored
# message would make the curator's browser fetch it.
_IMAGE_PREFIX = "data:image/"


def _parts(content: str | list | None) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"kind": "text", "text": content}]
    parts = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"kind": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith(_IMAGE_PREFIX):
                parts.append({"kind": "image", "url": url})
            else:
                parts.append({"kind": "text", "text": f"[image: {url[:200]}]"})
        else:
            parts.append({"kind": "text", "text": repr(part)})
    return parts


def chat_messages_html(messages: list[dict]) -> SafeString:
    """Each message's role, then its text in `<pre>` and its images as `<img>`."""
    return render_to_string(
        "admin/captions/chat_messages.html",
        {
            "chat_messages": [
                {
                    "role": message.get("role", "?"),
                    "parts": _parts(message.get("content")),
                }
                for message in messages
            ]
        },
    )
