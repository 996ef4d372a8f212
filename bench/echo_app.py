"""The reference for the service benchmark: bare Flask echoing the JSON body it receives."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/echo")
def echo():
    return jsonify(request.get_json())
