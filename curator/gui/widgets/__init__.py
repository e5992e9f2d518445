"""Qt widgets of the Curator panel: review queue, review controls, job bar."""
