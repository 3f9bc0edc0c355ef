"""The funders' report written out: HTML with its charts (SVG, drawn on the house's machine),
PDF (fpdf2, no browser: the charts as PNG) or CSV (one figure a row). Danish by default.
What the figures are and where they come from: house/report.py, docs/coordinator.md."""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from house.report import Report
from projections import overview
from services.kiosk import charts

WORDS: dict[str, dict[str, str]] = {
    "da": {
        "title": "Årsberetning: hvad huset har lavet",
        "period": "Perioden {start} til {end}",
        "intro": "Kun tal: ingen navne og ingen id'er. En gruppe på under 5 personer vises ikke "
        "for sig, men lægges sammen med den næstmindste, så ingen kan genkendes.",
        "under": "under 5",
        "view": "fra visningen",
        "figure": "Tal",
        "value": "Værdi",
        "meals": "Fællesspisning",
        "cleaning": "Rengøringsfester og vagter",
        "crew": "Vi er alle crew",
        "newcomers": "Nye i huset",
        "load": "Hvor jævnt arbejdet fordeles",
        "hours": "Timer",
        "meals_held": "Måltider holdt",
        "meals_served": "Måltider serveret",
        "diners_served": "Spisende ved bordet (optalt)",
        "portions": "Portioner tilmeldt",
        "cooks": "Forskellige personer, der lavede mad som kok",
        "helpers": "Forskellige personer, der hjalp i køkkenet",
        "cleaning_parties_held": "Rengøringsfester holdt",
        "cleaning_attendance": "Deltagelser i rengøringsfester",
        "cleaning_people": "Forskellige personer til rengøringsfester",
        "shifts_held": "Vagter holdt",
        "contributions": "Bidrag i alt",
        "contributors": "Forskellige personer, der bidrog",
        "contributors_before": "Forskellige personer i en lige så lang periode før",
        "contributors_change": "Ændring i antal personer, der bidrog",
        "newcomers_": "Nye, der kom i perioden",
        "days_to_first_contribution": "Dage fra ankomst til første bidrag (median)",
        "top_10pct_share": "Andel båret af de travleste 10 % (gennemsnit pr. måned)",
        "gini": "Gini-koefficient (gennemsnit pr. måned; 0 = helt jævnt)",
        "hours_": "Timer med kendt start og slut",
        "outcomes": "De nye efter udfald",
        "welcomed": "budt velkommen",
        "redirected": "vist videre",
        "open": "endnu åbne",
        "month": "Måned",
        "people": "Personer",
        "share": "Top 10 %",
        "by_month": "Måned for måned",
        "kind": "Slags",
        "kinds_title": "Bidrag efter slags",
        "people_title": "Forskellige personer, der bidrog, pr. måned",
        "share_title": "Andel båret af de travleste 10 %",
        "other": "andet (under 5 personer)",
    },
    "en": {
        "title": "Annual report: what the house did",
        "period": "The period {start} to {end}",
        "intro": "Counts only: no names and no ids. A group of fewer than 5 people is never "
        "shown alone, but merged with the next smallest, so no one can be singled out.",
        "under": "under 5",
        "view": "from the view",
        "figure": "Figure",
        "value": "Value",
        "meals": "Joint meals",
        "cleaning": "Cleaning parties and shifts",
        "crew": "We are all crew",
        "newcomers": "Newcomers",
        "load": "How evenly the work is shared",
        "hours": "Hours",
        "meals_held": "Meals held",
        "meals_served": "Meals served",
        "diners_served": "Diners at the table (counted)",
        "portions": "Portions signed up for",
        "cooks": "Different people who cooked as head cook",
        "helpers": "Different people who helped cook",
        "cleaning_parties_held": "Cleaning parties held",
        "cleaning_attendance": "Places taken at cleaning parties",
        "cleaning_people": "Different people at cleaning parties",
        "shifts_held": "Shifts held",
        "contributions": "Contributions in all",
        "contributors": "Different people who contributed",
        "contributors_before": "Different people in a period as long before",
        "contributors_change": "Change in the number of people who contributed",
        "newcomers_": "Newcomers who arrived in the period",
        "days_to_first_contribution": "Days from arriving to the first contribution (median)",
        "top_10pct_share": "Share carried by the busiest 10 % (mean per month)",
        "gini": "Gini coefficient (mean per month; 0 = all equal)",
        "hours_": "Hours with a known start and end",
        "outcomes": "Newcomers by outcome",
        "welcomed": "welcomed",
        "redirected": "pointed elsewhere",
        "open": "still open",
        "month": "Month",
        "people": "People",
        "share": "Top 10 %",
        "by_month": "Month by month",
        "kind": "Kind",
        "kinds_title": "Contributions by kind",
        "people_title": "Different people who contributed, per month",
        "share_title": "Share carried by the busiest 10 %",
        "other": "other (under 5 people)",
    },
}
SECTIONS = ("meals", "cleaning", "crew", "newcomers", "load", "hours")


def label(key: str, lang: str) -> str:
    words = WORDS[lang]
    return words.get(f"{key}_", words.get(key, key))  # a key that is also a section's name


def shown(value: Any, lang: str) -> str:
    if value is None:
        return WORDS[lang]["under"]
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
        return text.replace(",", " ").replace(".", ",") if lang == "da" else text
    return f"{value:,}".replace(",", ".") if lang == "da" else f"{value:,}"


def outcome_words(names: list[str], lang: str) -> str:
    words = {**overview.KIND_WORDS[lang], **WORDS[lang]}
    return " + ".join(words.get(name, name) for name in names)


def chart_specs(report: Report, lang: str) -> list[dict[str, Any]]:
    w = WORDS[lang]
    people = [{"month": str(m.month), "people": m.people} for m in report.months if m.people]
    kinds = [
        {**row, "month": str(row["month"]), "kind": overview.kind_in_words(row["kind"], lang)}
        for row in report.kinds
    ]
    share = [
        {"month": str(m.month), "share": m.top_10pct_share}
        for m in report.months
        if m.top_10pct_share is not None
    ]
    specs = [
        charts.bars(people, "month", "people", w["people_title"]),
        charts.stacked_area(kinds, "month", "contributions", "kind", w["kinds_title"]),
        charts.line(share, "month", {"share": w["share"]}, w["share_title"]),
    ]
    return [spec for spec in specs if spec["data"]["values"]]  # a chart of nothing is no chart


def _cell(value: int | float | None) -> int | float | str:
    return "under 5" if value is None else value


def as_csv(report: Report, lang: str) -> str:
    """One figure a row: section, figure, its words, value ("under 5" when not shown), view."""
    rows: list[list[Any]] = [["section", "figure", "label", "value", "view"]]
    rows += [[f.section, f.key, label(f.key, lang), _cell(f.value), f.view] for f in report.figures]
    rows += [
        ["newcomers", "outcome:" + "+".join(names), outcome_words(names, lang), _cell(n),
         "onboarding_funnel"]
        for names, n in report.outcomes
    ]  # fmt: skip
    for m in report.months:
        rows += [
            ["months", f"{key}:{m.month}", label(key, lang), _cell(value), "contributions"]
            for key, value in (("people", m.people), ("contributions", m.contributions))
        ]
        if m.top_10pct_share is not None:
            rows.append(["months", f"top_10pct_share:{m.month}", WORDS[lang]["share"],
                         m.top_10pct_share, "load_balance"])  # fmt: skip
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def as_html(report: Report, lang: str) -> str:
    w = WORDS[lang]
    parts = [
        f"<h1>{html.escape(w['title'])}</h1>",
        f"<p>{html.escape(w['period'].format(start=report.start, end=report.end))}</p>",
        f"<p>{html.escape(w['intro'])}</p>",
    ]
    for section in SECTIONS:
        rows = [
            [label(f.key, lang), shown(f.value, lang), f.view]
            for f in report.figures
            if f.section == section
        ]
        if section == "newcomers":
            rows += [
                [f"{w['outcomes']}: {outcome_words(names, lang)}", shown(n, lang),
                 "onboarding_funnel"]
                for names, n in report.outcomes
            ]  # fmt: skip
        parts += [
            f"<h2>{html.escape(w[section])}</h2>",
            _table([w["figure"], w["value"], w["view"]], rows),
        ]
    parts.append(f"<h2>{html.escape(w['by_month'])}</h2>")
    for spec in chart_specs(report, lang):
        parts.append(f"<figure aria-hidden='true'>{charts.svg(spec)}</figure>")
    month_rows = [
        [str(m.month)[:7], shown(m.people, lang), shown(m.contributions, lang),
         "" if m.top_10pct_share is None else shown(m.top_10pct_share, lang)]
        for m in report.months
    ]  # fmt: skip
    head = [w["month"], w["people"], w["contributions"], w["share"]]
    parts.append(_table(head, month_rows))
    style = (
        "body{font:16px/1.45 sans-serif;max-width:860px;margin:2em auto;padding:0 1em;color:#1d2a22}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em;width:100%}"
        "th,td{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left}"
        "figure{margin:1em 0}svg{max-width:100%;height:auto}"
    )
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
        f"<title>{html.escape(w['title'])}</title><style>{style}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def as_pdf(report: Report, lang: str) -> bytes:
    """The report as PDF, made here with fpdf2 (no browser, nothing downloaded); the charts as
    PNG images drawn by vl-convert. Its core font holds Latin-1, which Danish needs no more of."""
    from fpdf import FPDF

    w = WORDS[lang]
    pdf = FPDF(format="A4")
    pdf.set_title(w["title"])
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, w["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    period = w["period"].format(start=report.start, end=report.end)
    pdf.multi_cell(0, 5, f"{period}. {w['intro']}", new_x="LMARGIN", new_y="NEXT")
    for section in SECTIONS:
        rows = [
            (label(f.key, lang), shown(f.value, lang), f.view)
            for f in report.figures
            if f.section == section
        ]
        if section == "newcomers":
            rows += [
                (f"{w['outcomes']}: {outcome_words(names, lang)}", shown(n, lang),
                 "onboarding_funnel")
                for names, n in report.outcomes
            ]  # fmt: skip
        _pdf_rows(pdf, w[section], rows)
    pdf.add_page()
    for spec in chart_specs(report, lang):
        pdf.image(io.BytesIO(charts.png(spec)), w=170)
        pdf.ln(4)
    months = [
        (f"{str(m.month)[:7]}   {w['people']}: {shown(m.people, lang)}   "
         f"{w['contributions']}: {shown(m.contributions, lang)}",
         "" if m.top_10pct_share is None else shown(m.top_10pct_share, lang),
         "contributions, load_balance")
        for m in report.months
    ]  # fmt: skip
    _pdf_rows(pdf, f"{w['by_month']} ({w['share']})", months)
    return bytes(pdf.output())


def _pdf_rows(pdf: Any, title: str, rows: list[tuple[str, str, str]]) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for text, value, view in rows:
        pdf.cell(110, 6, text)
        pdf.cell(25, 6, value, align="R")
        pdf.set_text_color(90, 90, 90)
        pdf.cell(0, 6, f"  {view}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
