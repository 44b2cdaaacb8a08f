"""repro sbom: a CycloneDX SBOM read from the image itself."""
