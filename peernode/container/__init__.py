"""The encrypted film container (pure): header format and the segmented AES-256-GCM stream."""
