"""What the site's navigation (templates/base.html) asks about the person."""

from django import template

from verification.map_data import may_see_map

register = template.Library()
# The map's own rule (verification/map_data.py): the link shows to those it opens for.
register.filter("may_see_map", may_see_map)
