"use strict";
// Shared by the kiosk page and a crew member's own page (/me): the words for every "no" the house
// can answer, a few helpers, and the queue every tap waits in until the house answered it.

// What a refusal says, by its code (409), and for the other definitive answers. The server's own
// message names internal ids, so it is never shown.
const REFUSED = {
  da: { meal_not_planned: "Det måltid er ikke på planen (længere).",
        meal_closed: "Tilmeldingen til det måltid er lukket.",
        meal_cancelled: "Det måltid er aflyst.",
        meal_already_served: "Det måltid er allerede spist.",
        head_cook_taken: "Der er allerede en kok til det måltid.",
        already_cooking: "Du er allerede med på madholdet. Meld fra først, hvis du vil skifte rolle.",
        meal_full: "Der er ikke flere pladser ved bordet.",
        not_signed_up: "Du er ikke skrevet op til det.",
        series_not_scheduled: "Den dag er ikke på planen (længere).",
        occurrence_not_found: "Den dag er ikke på planen (længere).",
        occurrence_cancelled: "Den dag er aflyst.",
        wrong_kind: "Det kan man ikke her.",
        unknown_task: "Den opgave findes ikke (længere).",
        task_full: "Holdet til »{task}« er fuldt.",
        shift_full: "Vagten er fuldt besat.",
        already_on_task: "Du har allerede en opgave. Slip den først, hvis du vil skifte.",
        no_task: "Du har ingen opgave der.",
        already_signed_up: "Du er allerede skrevet op.",
        no_hand_over_offered: "Den plads er ikke til overtagelse (måske allerede taget).",
        no_claim: "Du har ingen foreløbig plads der.",
        not_today: "Man kan først tjekke ind på dagen.",
        claim_expired: "Din foreløbige plads er udløbet. Tag en ledig plads, hvis der er en.",
        occurrence_over: "Den dag er allerede forbi.",
        no_cooking_place: "Der er ikke flere pladser på madholdet den dag.",
        forgotten: "Det navn kan ikke bruges igen. Spørg en fra crewet.",
        already_crew: "Du er allerede med i crewet.",
        refused: "Det kunne ikke lade sig gøre. Spørg en fra crewet.",
        invalid: "Huset forstod ikke trykket. Spørg en fra crewet.",
        meal_already_planned: "Der er allerede et måltid med det navn.",
        series_already_scheduled: "Der er allerede en plan med det navn.",
        bad_schedule: "Planen hænger ikke sammen (ugedage, tider eller datoer).",
        change_in_the_past: "En ændring kan kun gælde fra i dag og frem.",
        later_change_exists: "Der er allerede en senere ændring af planen.",
        no_intention: "Du har ingen fast aftale der.",
        already_onboarded: "Vedkommende er allerede budt velkommen.",
        already_redirected: "Vedkommende er allerede vist videre.",
        is_a_newcomer: "Vedkommende er ny og har ikke haft sin snak endnu.",
        no_conversation_yet: "Snakken er ikke holdt endnu.",
        not_a_newcomer: "Vedkommende er ikke registreret som ny.",
        own_buddy: "Man kan ikke være sin egen makker.",
        not_crew: "Kun crew kan være koordinatorer.",
        person_forgotten: "Det navn kan ikke bruges igen.",
        not_subscribed: "Du får ikke de beskeder.",
        no_address: "Vi har ingen e-mailadresse til dig endnu – spørg en fra crewet om at skrive den ind.",
        activity_not_planned: "Den aktivitet er ikke på planen (længere).",
        activity_already_planned: "Der er allerede en aktivitet med det navn.",
        activity_cancelled: "Den aktivitet er aflyst.",
        ends_before_it_starts: "Slutningen skal ligge efter starten.",
        not_open_to_guests: "Den aktivitet er kun for crewet.",
        no_such_task: "Den opgave findes ikke ved den aktivitet.",
        initiative_not_started: "Det initiativ er ikke startet.",
        initiative_already_started: "Der er allerede et initiativ med det navn.",
        lead_hands_on_first: "Giv initiativet videre til en anden, før du går fra det.",
        not_a_member: "Du er ikke med i det initiativ.",
        unknown_contribution_kind: "Den slags bidrag kender huset ikke (endnu).",
        contribution_already_recorded: "Det bidrag er allerede skrevet ned.",
        forbidden: "Det kan man ikke gøre herfra." },
  en: { meal_not_planned: "That meal is not on the plan (any more).",
        meal_closed: "Sign-ups for that meal are closed.",
        meal_cancelled: "That meal was cancelled.",
        meal_already_served: "That meal has already been served.",
        head_cook_taken: "That meal already has a cook.",
        already_cooking: "You are already on the cooking team. Step back first to change role.",
        meal_full: "There are no seats left at that meal.",
        not_signed_up: "You are not signed up for that.",
        series_not_scheduled: "That day is not on the plan (any more).",
        occurrence_not_found: "That day is not on the plan (any more).",
        occurrence_cancelled: "That day was cancelled.",
        wrong_kind: "That can't be done here.",
        unknown_task: "That task does not exist (any more).",
        task_full: "The “{task}” team is full.",
        shift_full: "That shift is full.",
        already_on_task: "You already have a task. Drop it first to change.",
        no_task: "You have no task there.",
        already_signed_up: "You are already signed up.",
        no_hand_over_offered: "That place is not on offer (taken already?).",
        no_claim: "You have no tentative place there.",
        not_today: "You can check in on the day itself.",
        claim_expired: "Your tentative place has expired. Take an open place if there is one.",
        occurrence_over: "That day is already over.",
        no_cooking_place: "There is no place left on that day's cooking team.",
        forgotten: "That name cannot be used again. Ask someone from the crew.",
        already_crew: "You are already crew.",
        refused: "That could not be done. Ask someone from the crew.",
        invalid: "The house did not understand that tap. Ask someone from the crew.",
        meal_already_planned: "There is already a meal with that name.",
        series_already_scheduled: "There is already a plan with that name.",
        bad_schedule: "The plan does not add up (weekdays, times or dates).",
        change_in_the_past: "A change can only apply from today on.",
        later_change_exists: "There is already a later change to the plan.",
        no_intention: "You have no standing arrangement there.",
        already_onboarded: "They have already been welcomed.",
        already_redirected: "They have already been pointed elsewhere.",
        is_a_newcomer: "They are new and have not had their conversation yet.",
        no_conversation_yet: "The conversation has not been held yet.",
        not_a_newcomer: "They are not registered as new.",
        own_buddy: "Nobody can be their own buddy.",
        not_crew: "Only crew can be coordinators.",
        person_forgotten: "That name cannot be used again.",
        not_subscribed: "You do not get those notices.",
        no_address: "We have no e-mail address for you yet – ask someone from the crew to add it.",
        activity_not_planned: "That activity is not on the plan (any more).",
        activity_already_planned: "There is already an activity with that name.",
        activity_cancelled: "That activity was cancelled.",
        ends_before_it_starts: "The end must come after the start.",
        not_open_to_guests: "That activity is for the crew only.",
        no_such_task: "That activity has no such task.",
        initiative_not_started: "That initiative has not been started.",
        initiative_already_started: "There is already an initiative with that name.",
        lead_hands_on_first: "Hand the initiative on to someone else before you leave it.",
        not_a_member: "You are not in that initiative.",
        unknown_contribution_kind: "The house does not know that kind of contribution (yet).",
        contribution_already_recorded: "That contribution is already recorded.",
        forbidden: "That can't be done from here." },
};
const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => (vars || {})[k] ?? "");
const el = (tag, attrs = {}, ...kids) => { const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "onclick") e.onclick = v; else if (v !== null) e.setAttribute(k, v); }
  for (const k of kids) e.append(k); return e; };
// Whether the house's answers differ from those the page last drew from (their checkpoints
// aside). A page draws again only then: a redraw replaces every button (a tap pressed on the old
// one and released on the new one is lost) and every form not kept (what was typed goes), and a
// page looks again every 200 ms after a tap until the views show it.
function changed(...answers) {
  const key = JSON.stringify(answers, (k, v) => (k === "checkpoint" ? undefined : v));
  if (key === changed.last) return false;
  changed.last = key;
  return true;
}
// What is typed, picked or ticked in a page's forms, kept by the control's id and put back when
// the page draws again. `kept(input)` registers a control; `clear()` forgets every draft (the
// kiosk's next person starts with empty forms).
function draftStore() {
  const draft = {};
  function kept(input) {
    const box = input.type === "checkbox", key = input.id;
    if (key in draft) { if (box) input.checked = draft[key]; else input.value = draft[key]; }
    input.addEventListener(box || input.tagName === "SELECT" ? "change" : "input", () => { draft[key] = box ? input.checked : input.value; });
    return input;
  }
  return { draft, kept, clear: () => { for (const key of Object.keys(draft)) delete draft[key]; } };
}
// crypto.randomUUID exists only on https or localhost; a tablet on http://<house>:8080 has getRandomValues.
const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), b => b.toString(16).padStart(2, "0")).join("");
// AbortSignal.timeout is missing on older tablet browsers.
function deadline(ms) {
  if (window.AbortSignal && AbortSignal.timeout) return AbortSignal.timeout(ms);
  if (!window.AbortController) return undefined;
  const c = new AbortController(); setTimeout(() => c.abort(), ms); return c.signal;
}

// Every tap gets its own key and waits in this queue (in localStorage, under `storageKey`) until
// the house has answered it for good; anything else (401, 429, 5xx, no answer) keeps it, and it
// is sent again, with the same key, so it lands exactly once. `hooks`: problem(key) when the
// house cannot be reached or the token is refused; answered(item, status, answer) for each
// answer for good; changed() when the queue changed; settled(n) after each round, n answered.
const DEFINITIVE = new Set([200, 403, 409, 422]);
function tapQueue(storageKey, token, hooks) {
  const pending = () => JSON.parse(localStorage.getItem(storageKey) || "[]");
  const save = (q) => { localStorage.setItem(storageKey, JSON.stringify(q)); hooks.changed(); };
  let flushing = false;
  async function flush() {
    if (flushing) return; flushing = true; let answered = 0;
    try {
      for (const item of pending()) {   // in order: a later tap waits for the earlier one
        let res;
        try {
          res = await fetch(`/api/v1/commands/${item.context}/${item.command}`, { method: "POST",
            headers: { "content-type": "application/json", "authorization": `Bearer ${token()}`, "idempotency-key": item.key },
            body: JSON.stringify(item.body), signal: deadline(15000) });   // a hung request is retried, never waited on forever
        } catch (e) { hooks.problem("unreachable"); break; }   // offline or no answer: keep it, retry with the same key
        if (!DEFINITIVE.has(res.status)) { hooks.problem(res.status === 401 ? "unauthorised" : "unreachable"); break; }
        const answer = await res.json().catch(() => ({}));
        save(pending().filter(q => q.key !== item.key));   // answered for good: accepted or refused
        answered++;
        hooks.answered(item, res.status, answer);
      }
    } finally { flushing = false; hooks.settled(answered); }
  }
  function tap(context, command, body) { save([...pending(), { key: randomId(), context, command, body }]); flush(); }
  setInterval(flush, 3000);
  addEventListener("online", flush);
  return { tap, flush, pending };
}

// A person's name as the board knows it; a newcomer not yet welcomed is marked (`mark`: "ny").
function crewLabel(board, id, mark) {
  const c = (board?.crew || []).find(x => x.crew_id === id);
  return c ? (c.display_name || id) + (c.newcomer ? ` (${mark})` : "") : id;
}
// The helpers of a meal, by name, newcomers marked: the cook sees who is new.
const helperLine = (board, meal, mark, nobody) => (meal.helpers || []).map(h => crewLabel(board, h, mark)).join(", ") || nobody;

// Activities, initiatives and "jeg har bidraget": one section both pages show, from the board
// (docs/activities.md). `who` is the person acting; guests are counted, never named.
const ACT_WORDS = {
  da: { activities: "Aktiviteter", initiatives: "Initiativer", sign_up: "Jeg er med", withdraw: "Jeg kan ikke alligevel",
        open: (n) => n === null ? "plads til alle" : n === 1 ? "1 ledig plads" : `${n} ledige pladser`,
        waiting: "på venteliste", guests: "gæster", on_list: "du står på ventelisten", you_in: "du er med",
        join: "Jeg er med", leave: "Jeg træder ud", lead: "tovholder", members: "med", task: "Jeg tager",
        contributed: "Jeg har bidraget", kind: "Hvad?", for_whom: "Hvem?", minutes: "Minutter (frivilligt)",
        note: "Et par ord (frivilligt)", record: "Skriv det ned", none: "Ingen aktiviteter de næste uger.",
        mine: "Dine aktiviteter", part_signed_up: "med", part_waitlisted: "på venteliste", cancelled: "aflyst" },
  en: { activities: "Activities", initiatives: "Initiatives", sign_up: "I'm in", withdraw: "I can't after all",
        open: (n) => n === null ? "room for everyone" : n === 1 ? "1 place open" : `${n} places open`,
        waiting: "waiting", guests: "guests", on_list: "you are on the waitlist", you_in: "you are in",
        join: "I'm in", leave: "I'm stepping out", lead: "lead", members: "in it", task: "I'll take",
        contributed: "I contributed", kind: "What?", for_whom: "Who?", minutes: "Minutes (optional)",
        note: "A few words (optional)", record: "Note it", none: "No activities in the coming weeks.",
        mine: "Your activities", part_signed_up: "in", part_waitlisted: "waitlisted", cancelled: "cancelled" },
};
const actWord = (lang, k, arg) => { const v = ACT_WORDS[lang][k] ?? k; return typeof v === "function" ? v(arg) : v; };
const actWhen = (lang, iso) => new Date(iso).toLocaleString(lang === "da" ? "da-DK" : "en-GB",
  { weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" });
// The coming activities with one tap to sign up, the initiatives with one tap to join, and a
// contribution of a chosen kind, for oneself or (on the kiosk) for someone else.
function renderActivities(main, { lang, board, who, tap, keep = (input) => input }) {
  const w = (k, arg) => actWord(lang, k, arg), names = Object.fromEntries((board.crew || []).map(c => [c.crew_id, c.display_name]));
  main.append(el("h2", {}, w("activities")));
  if (!(board.activities || []).length) main.append(el("p", { class: "meta" }, w("none")));
  for (const a of board.activities || []) {
    const inIt = a.signed_up.includes(who), onList = a.waitlist.includes(who);
    const meta = [a.initiative_title, a.place, w("open", a.open_places), a.guests ? `${a.guests} ${w("guests")}` : "",
      a.waitlist.length + a.guests_waiting ? `${a.waitlist.length + a.guests_waiting} ${w("waiting")}` : "", a.fee_note,
      inIt ? w("you_in") : onList ? w("on_list") : ""].filter(Boolean).join(" · ");
    const card = el("div", { class: "card", "data-testid": `activity-${a.activity_id}` },
      el("div", {}, el("b", {}, `${a.title}: ${actWhen(lang, a.starts_at)}`)), el("div", { class: "meta" }, meta),
      el("div", { class: "meta" }, (a.signed_up_names || []).join(", ")));
    const body = { activity_id: a.activity_id, crew_id: who };
    card.append(inIt || onList
      ? el("button", { class: "quiet", "data-testid": `activity-withdraw-${a.activity_id}`, onclick: () => tap("activities", "withdraw", body) }, w("withdraw"))
      : el("button", { "data-testid": `activity-sign-up-${a.activity_id}`, onclick: () => tap("activities", "sign_up", body) }, w("sign_up")));
    for (const k of a.tasks || []) card.append(el("button", { class: "quiet", disabled: k.people.length >= k.capacity || k.people.includes(who) ? "" : null,
      onclick: () => tap("activities", "take_task", { ...body, task: k.task }) }, `${w("task")} ${k.task} (${k.people.length}/${k.capacity})`));
    main.append(card);
  }
  main.append(el("h2", {}, w("initiatives")));
  for (const i of board.initiatives || []) {
    const body = { initiative_id: i.initiative_id, crew_id: who }, member = i.members.includes(who);
    const coming = (board.activities || []).filter(a => a.initiative_id === i.initiative_id)
      .map(a => el("li", {}, `${a.title}: ${actWhen(lang, a.starts_at)}`));
    main.append(el("div", { class: "card", "data-testid": `initiative-${i.initiative_id}` }, el("b", {}, i.title),
      el("div", { class: "meta" }, `${w("lead")}: ${i.lead_name || ""} · ${i.member_count} ${w("members")}`),
      i.description ? el("div", {}, i.description) : "", coming.length ? el("ul", {}, ...coming) : "",
      member ? el("button", { class: "quiet", onclick: () => tap("activities", "leave_initiative", body) }, w("leave"))
             : el("button", { "data-testid": `initiative-join-${i.initiative_id}`, onclick: () => tap("activities", "join_initiative", body) }, w("join"))));
  }
  renderContributed(main, { lang, board, who, tap, names, keep });
}
// `keep`: the page's way of keeping what is typed or picked across its redraws (me.html's kept).
function renderContributed(main, { lang, board, who, tap, names, keep }) {
  const w = (k) => actWord(lang, k);
  const kind = keep(el("select", { id: "contribution-kind", "data-testid": "contribution-kind" },
    ...(board.contribution_kinds || []).map(k => el("option", { value: k.kind }, lang === "da" ? k.label_da : k.label_en))));
  const whom = keep(el("select", { id: "contribution-for", "data-testid": "contribution-for" },
    el("option", { value: who }, names[who] || who), ...(board.crew || []).filter(c => c.crew_id !== who && !c.newcomer)
      .map(c => el("option", { value: c.crew_id }, c.display_name || c.crew_id))));
  const minutes = keep(el("input", { id: "contribution-minutes", type: "number", min: "1", max: "1440", "data-testid": "contribution-minutes" }));
  const note = keep(el("input", { id: "contribution-note", maxlength: "500", "data-testid": "contribution-note" }));
  main.append(el("h2", {}, w("contributed")), el("div", { class: "card", "data-testid": "contributed" },
    el("label", { for: "contribution-kind" }, w("kind")), kind, el("label", { for: "contribution-for" }, w("for_whom")), whom,
    el("label", { for: "contribution-minutes" }, w("minutes")), minutes, el("label", { for: "contribution-note" }, w("note")), note,
    el("button", { "data-testid": "contribution-record", onclick: () => {
      const body = { contribution_id: "c-" + randomId(), crew_id: whom.value, kind: kind.value };
      if (Number(minutes.value) > 0) body.minutes = Number(minutes.value);
      if (note.value.trim()) body.note = note.value.trim();
      tap("activities", "record_contribution", body);
      for (const input of [minutes, note]) { input.value = ""; input.dispatchEvent(new Event("input")); }   // the kept draft too
    } }, w("record"))));
}
// A person's own activities, for "Min del" on their page.
function myActivities(lang, mine) {
  return (mine || []).map(a => el("li", { "data-testid": `my-activity-${a.activity_id}` },
    `${a.title}: ${actWhen(lang, a.starts_at)} · ${a.status === "cancelled" ? actWord(lang, "cancelled")
      : actWord(lang, `part_${a.part}`) !== `part_${a.part}` ? actWord(lang, `part_${a.part}`) : a.part}`));
}
