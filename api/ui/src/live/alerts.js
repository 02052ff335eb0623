// The live alert feed: newest first, a flash of the panel and a short beep
// (WebAudio) for each alert that opens. Browsers start audio only after a
// user gesture: the audio context is created or resumed on the first click
// or key press, and until then the sound button says so.

import { el } from "../dom.js";
import { t, has, lang } from "../i18n.js";
import "../rules.js";
import { formatTime } from "../time.js";

const MAX_ITEMS = 100;
const SOUND_STORE = "fleetmon.sound";

export function createAlertFeed({ list, panel, soundButton, onPick }) {
  const items = new Map(); // alert id → alert JSON
  let audio = null;
  let soundOn = localStorage.getItem(SOUND_STORE) !== "off";

  function unlock() {
    if (!audio) {
      try {
        audio = new AudioContext();
      } catch {
        audio = null;
      }
    }
    if (audio && audio.state === "suspended") audio.resume().then(showSound, showSound);
    showSound();
  }
  document.addEventListener("pointerdown", unlock, true);
  document.addEventListener("keydown", unlock, true);

  function showSound() {
    const blocked = soundOn && (!audio || audio.state !== "running");
    soundButton.textContent = soundOn ? (blocked ? `${t("sound.on")} (${t("sound.blocked")})` : t("sound.on")) : t("sound.off");
    soundButton.classList.toggle("off", !soundOn);
  }
  soundButton.addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem(SOUND_STORE, soundOn ? "on" : "off");
    showSound();
  });

  // beep: two short 880 Hz tones.
  function beep() {
    if (!soundOn || !audio || audio.state !== "running") return;
    const now = audio.currentTime;
    for (const start of [0, 0.25]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now + start);
      gain.gain.exponentialRampToValueAtTime(0.3, now + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + start);
      osc.stop(now + start + 0.2);
    }
  }

  function ruleName(a) {
    return has(`rule.${a.rule.id}`) ? t(`rule.${a.rule.id}`) : a.rule.name || a.rule.id;
  }

  function render() {
    list.replaceChildren();
    const sorted = [...items.values()].sort((a, b) => (a.start < b.start ? 1 : -1));
    if (sorted.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = t("alerts.none");
      list.append(li);
      return;
    }
    for (const a of sorted) {
      const li = document.createElement("li");
      li.className = `alert ${a.status}`;
      li.dataset.alertId = a.id;
      li.dataset.rule = a.rule.id;
      const head = document.createElement("div");
      const plate = document.createElement("b");
      plate.textContent = a.vehicle.plate || `#${a.vehicle.id}`;
      head.append(plate, ` ${ruleName(a)}`);
      const when = document.createElement("div");
      when.className = "when";
      when.textContent = `${formatTime(a.start)} · ${t(a.status === "open" ? "alerts.open" : "alerts.closed")}`;
      li.append(head, when);
      const detail = lang() === "en" ? a.detail : a.detail_zh || a.detail;
      if (detail) li.append(el("div", { className: "detail-text" }, detail));
      li.addEventListener("click", () => onPick(a));
      list.append(li);
    }
  }

  document.addEventListener("langchange", () => {
    showSound();
    render();
  });
  showSound();
  render();

  return {
    // load shows alerts already open, without a cue.
    load(alerts) {
      for (const a of alerts) items.set(a.id, a);
      render();
    },
    // arrive shows an alert from the live stream; a newly opened one flashes
    // the panel and beeps.
    arrive(a) {
      const isNew = !items.has(a.id);
      items.set(a.id, a);
      if (items.size > MAX_ITEMS) {
        const oldest = [...items.values()].sort((x, y) => (x.start < y.start ? -1 : 1))[0];
        items.delete(oldest.id);
      }
      render();
      if (isNew && a.status === "open") {
        panel.classList.remove("flash");
        void panel.offsetWidth; // restart the animation
        panel.classList.add("flash");
        beep();
      }
    },
  };
}
