"""Shared pieces of the administration area (``pages/admin*.py``).

``sections``: which parts exist and who may use each; ``forms``: what a form was sent with and
what the services said was wrong with it, field by field; ``respond``: answering an htmx request
with the changed fragment and anything else with the whole page; ``display``: times and
durations as people read them.
"""
