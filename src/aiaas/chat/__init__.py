"""Conversations, messages, feedback, channels (widget, REST, webhooks), SSE and the handoff inbox."""
