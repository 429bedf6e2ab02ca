"""Devices -> DeviceEvents: BLE (bleak, BTHome v2), MQTT (Zigbee2MQTT, HA discovery), Hermes.

events.py    the fixed interface (DeviceEvent, PairedDevice, DeviceEventSink)
service.py   DeviceBridge: the one object the gateway starts
bthome.py    BTHome decoding (bthome-ble) + replay/duplicate/downgrade policy (pure)
roles.py     readings -> events by device role, silence watchdog (pure)
mqtt.py      Zigbee2MQTT parsing, HA discovery documents (pure) and the paho link
hermes.py    Rhasspy Hermes audio server for satellite speakers
simulate.py  build BTHome frames (plain/encrypted) for tests, demo and pairing replay
"""
