"""Signals campaigns sends and messaging listens to (campaigns never imports
messaging)."""

from django.dispatch import Signal

# A campaign's goal event, credit rule or window changed (sent once the edit
# commits; arguments: campaign_id, version). messaging re-attributes its
# goal events.
attribution_changed = Signal()
