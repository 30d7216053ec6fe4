"""render_service package."""
