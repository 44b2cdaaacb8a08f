"""Images and where they live: locations (registry, ``oci:``, archives), stores, push and pull.

:mod:`~repro.images.location` parses every form a user writes for an image;
:mod:`~repro.images.store` opens it as an :class:`~repro.images.store.ImageStore`;
:mod:`~repro.images.push` and :mod:`~repro.images.pull` copy images between a layout
and any store.
"""
