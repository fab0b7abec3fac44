"""A finalized invoice as a PDF (fpdf2): the same lines and totals as the portals' invoice page.

Text uses DejaVu Sans when the system has it (any script); otherwise the PDF core font
Helvetica, which holds Latin-1 only, so other characters are shown as "?".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
WIDTHS = (92, 24, 32, 36)  # description, quantity, unit price, amount (mm; 184 of the A4 width)


class _Writer:
    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(13, 15, 13)
        font = next((path for path in FONT_FILES if path.is_file()), None)
        self.unicode = font is not None
        if font is not None:
            self.pdf.add_font("Body", "", str(font))
            bold = font.with_name("DejaVuSans-Bold.ttf")
            self.pdf.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.family = "Body"
        else:
            self.family = "Helvetica"
        self.pdf.add_page()

    def text(self, value: object) -> str:
        shown = str(value)
        return shown if self.unicode else shown.encode("latin-1", "replace").decode("latin-1")

    def line(self, value: object, size: float = 10, bold: bool = False, height: float = 6) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, height, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: tuple[object, ...], bold: bool = False) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", 9)
        for index, (cell, width) in enumerate(zip(cells, WIDTHS, strict=True)):
            last = index == len(WIDTHS) - 1
            self.pdf.cell(
                width,
                7,
                self.text(cell),
                border="B",
                align="L" if index == 0 else "R",
                new_x=XPos.LMARGIN if last else XPos.RIGHT,
                new_y=YPos.NEXT if last else YPos.TOP,
            )


def invoice_pdf(invoice: dict[str, Any], issuer: str, customer: str) -> bytes:
    """``invoice`` is the REST ``StoredInvoiceOut`` body (with ``apiName``)."""
    out = _Writer()
    currency = invoice["currency"]
    out.line(f"Invoice {invoice.get('number') or invoice['invoiceId']}", size=18, bold=True, height=10)
    out.line(f"Issued by {issuer} for {customer}")
    out.line(f"API: {invoice.get('apiName', '')}")
    out.line(f"Period: {_day(invoice['periodStart'])} to {_day(invoice['periodEnd'])} (UTC)")
    status = f"Status: {invoice['status']}"
    if invoice.get("dueAt"):
        status += f", due {_day(invoice['dueAt'])}"
    if invoice.get("paidAt"):
        status += f", paid {_day(invoice['paidAt'])}"
    out.line(status)
    out.pdf.ln(4)
    out.row(("Description", "Quantity", "Unit price", "Amount"), bold=True)
    for item in invoice["lines"]:
        out.row(
            (item["description"], f"{item['quantity']:,}", item["unitAmount"], f"{item['amount']} {currency}")
        )
    out.pdf.ln(3)
    for label, key in (
        ("Subtotal", "subtotal"),
        ("Tax", "tax"),
        ("Total", "total"),
        ("Amount due", "amountDue"),
        ("Amount paid", "amountPaid"),
    ):
        out.row(("", "", label, f"{invoice[key]} {currency}"), bold=key == "total")
    return bytes(out.pdf.output())


def _day(value: object) -> str:
    return str(value)[:10]
