"""Reference (b): the same socket protocol answered directly on the socket, with no queue.

Uses the production frame models and renderer, so the only difference from /ws is the trip
through Redis, the worker and MongoDB.
"""

import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from app.channels.soulmachines import protocol
from app.turns import Reply

app = FastAPI()


@app.websocket("/ws")
async def direct(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            envelope = protocol.Envelope.model_validate(json.loads(await websocket.receive_text()))
            if envelope.name != "conversationRequest":
                continue
            request = protocol.ConversationRequest.model_validate(envelope.body)
            reply = Reply(session_id="direct", turn_id="t", persona_id="p", input_text=request.input.text, text="ok")
            await websocket.send_text(json.dumps(protocol.reply_frame(request.personaId, reply)))
    except WebSocketDisconnect:
        return
