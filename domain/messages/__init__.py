"""Customer, supplier and operator messages (rules M1-M5): templates and their rendering.

Templates live in `templates/<language>/<name>.{subject,txt,html}.j2`. Rendering is pure: the
context is data, customer-supplied text is only ever a variable (never a template), HTML is
auto-escaped, and the subject is folded to one line so no header can be injected.
"""

from domain.messages.render import RenderedMessage, available_languages, pick_language, render

__all__ = ["RenderedMessage", "available_languages", "pick_language", "render"]
