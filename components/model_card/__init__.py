"""Model card written next to every pushed SavedModel, and the Pusher that writes it."""
