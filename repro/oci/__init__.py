"""OCI image-spec data: media types, descriptors, manifests and indexes; image layouts on disk."""
