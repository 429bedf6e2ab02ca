"""Each shared fixture runs the real program: a real MQTT message, a real e-mail,
a real SQL query on PostgreSQL and a real audio frame read through sounddevice."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import threading
from email.message import EmailMessage

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa


def test_mosquitto_delivers_a_qos1_message(mosquitto_broker) -> None:
    got: list[bytes] = []
    arrived = threading.Event()

    def on_message(client, userdata, msg) -> None:
        got.append(msg.payload)
        arrived.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-sub")
    sub.on_message = on_message
    sub.connect(mosquitto_broker.host, mosquitto_broker.port)
    sub.subscribe("mimamori/test", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-pub")
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()
    try:
        # resend until the subscription is active: SUBACK may still be in flight
        for _ in range(50):
            pub.publish("mimamori/test", "元気です".encode(), qos=1).wait_for_publish(2)
            if arrived.wait(0.1):
                break
        assert got and got[0].decode() == "元気です"
    finally:
        pub.loop_stop()
        sub.loop_stop()
        pub.disconnect()
        sub.disconnect()


def test_smtp_sink_receives_a_japanese_mail(smtp_sink) -> None:
    msg = EmailMessage()
    msg["From"] = "mimamori@example.jp"
    msg["To"] = "family@example.jp"
    msg["Subject"] = "本日8時の見守りに応答がありません"
    msg.set_content("山田花子さまから応答がありません。")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port) as smtp:
        smtp.send_message(msg)
    (received,) = smtp_sink.wait_for(1, timeout=10)
    assert received["Subject"] == "本日8時の見守りに応答がありません"
    assert "応答がありません" in received.get_content()


@pytest.mark.postgres
def test_postgres_runs_a_real_query(postgres_url) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id serial primary key, name text)"))
        conn.execute(sa.text("INSERT INTO t (name) VALUES ('見守り')"))
        assert conn.execute(sa.text("SELECT name FROM t")).scalar_one() == "見守り"
        assert "PostgreSQL" in conn.execute(sa.text("SELECT version()")).scalar_one()
    engine.dispose()


def test_sounddevice_reads_the_injected_audio(alsa_file_device) -> None:
    samples = (np.sin(np.arange(16000) / 8.0) * 8000).astype("<i2")
    alsa_file_device.write_input(samples.tobytes())
    code = (
        "import sounddevice as sd, sys\n"
        "x = sd.rec(8000, samplerate=16000, channels=1, dtype='int16', blocking=True)\n"
        "sys.stdout.buffer.write(x.tobytes())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=alsa_file_device.env(), capture_output=True, check=True
    ).stdout
    got = np.frombuffer(out, dtype="<i2")
    assert np.array_equal(got, samples[:8000])


def test_sounddevice_in_process_uses_the_file_device(alsa_file_device) -> None:
    import sounddevice as sd

    samples = (np.arange(4000) % 500).astype("<i2")
    alsa_file_device.write_input(samples.tobytes())
    got = sd.rec(4000, samplerate=16000, channels=1, dtype="int16", blocking=True).ravel()
    assert np.array_equal(got, samples)
    sd.play(samples, samplerate=16000, blocking=True)
    assert len(alsa_file_device.read_output()) >= samples.nbytes


def test_cloud_server_answers_healthz(cloud_server) -> None:
    import httpx

    response = httpx.get(f"{cloud_server.base_url}/healthz", timeout=5)
    assert response.status_code == 200
