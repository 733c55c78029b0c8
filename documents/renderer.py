"""Render the filing documents (公文/表格) of the three procedures: plain data in, PDF bytes out.

No database, no Flask. Everything that does not depend on the document is built once per process and reused:

* one ``FontConfiguration`` (fontconfig set-up + the @font-face files of the vendored Fandol fonts);
* one pre-parsed ``weasyprint.CSS`` for the fonts and one for ``static/gbt9704.css`` (tinycss2 + cssselect2 matcher);
* one Jinja2 ``Environment`` with compiled templates.

A render then only costs HTML parsing, style cascade, layout and PDF writing (font subsetting by HarfBuzz).
WeasyPrint/Pango/fontconfig objects are shared, so renders are serialised by a lock (one render at a time per
process; a gunicorn deployment scales with worker processes).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_FONT_DIR = PACKAGE_DIR / "fonts" / "vendor"
STYLESHEET = STATIC_DIR / "gbt9704.css"

LOGGER = logging.getLogger(__name__)

# (CSS family, file in fonts/vendor, weight). Files fetched by scripts/fetch-fonts.sh; missing ones are skipped and
# the stacks in gbt9704.css fall back to Noto CJK.
VENDOR_FONTS: tuple[tuple[str, str, int], ...] = (
    ("GW Fang", "FandolFang-Regular.otf", 400),
    ("GW Song", "FandolSong-Regular.otf", 400),
    ("GW Song", "FandolSong-Bold.otf", 700),
    ("GW Kai", "FandolKai-Regular.otf", 400),
    ("GW Hei", "FandolHei-Regular.otf", 400),
    ("GW Hei", "FandolHei-Bold.otf", 700),
)


class DocumentDataError(ValueError):
    """The data given for a document is incomplete or malformed. The message is in Chinese, for the end user."""

    def __init__(self, message: str, fields: Iterable[str] = ()):
        super().__init__(message)
        self.fields = tuple(fields)


# --------------------------------------------------------------------------------------------------------------
# Field catalogue: type and Chinese label of every data field (used for validation and error messages).
# Types: text, date, int, list (non-empty list of mappings; item keys in LIST_ITEM_KEYS), bool.
# --------------------------------------------------------------------------------------------------------------
FIELDS: dict[str, tuple[str, str]] = {
    # common
    "doc_no": ("text", "文号"),
    "issue_date": ("date", "成文日期"),
    "issuer": ("text", "发文机关"),
    "verify_code": ("text", "核验码"),
    "verify_url": ("text", "核验网址"),
    "case_no": ("text", "办件编号"),
    "applicant_name": ("text", "申请人姓名"),
    "unit_name": ("text", "用人单位"),
    # optional common
    "addressee": ("text", "主送"),
    "cc": ("list_text", "抄送"),
    "printer": ("text", "印发机关"),
    "print_date": ("date", "印发日期"),
    "contact": ("text", "联系人及电话"),
    "title": ("text", "标题"),
    "seal_image": ("text", "印章图像"),
    # per kind
    "procedure_name": ("text", "事项名称"),
    "submitted_date": ("date", "申请提交日期"),
    "materials": ("list_text", "已收材料"),
    "promised_date": ("date", "承诺办结日期"),
    "next_office": ("text", "转办单位"),
    "owed_items": ("list", "容缺材料"),
    "deadline": ("date", "补交期限"),
    "signed_date": ("date", "承诺签署日期"),
    "id_number": ("text", "身份证件号码"),
    "talent_category": ("int", "人才类别"),
    "reason": ("text", "理由"),
    "rule_id": ("text", "适用规则编号"),
    "clause": ("text", "政策条款原文"),
    "clause_source": ("text", "条款出处"),
    "alternative_route": ("text", "可选办理途径"),
    "quotes": ("list", "政策条款原文"),
    "rule_basis": ("text", "决定依据"),
    "rule_title": ("text", "适用规则"),
    "remedy": ("text", "救济途径告知"),
    "decision": ("text", "决定事项"),
    "you": ("text", "称谓（你 / 你单位）"),
    "addressee_kind": ("text", "主送类别"),
    "desk": ("text", "作出决定的环节"),
    "ground": ("text", "终止办理的情形"),
    "commitment_date": ("date", "承诺书签署日期"),
    "lapsed_items": ("list_text", "逾期未补交材料"),
    "quota_released": ("text", "编制释放情况"),
    "items": ("list", "补正材料"),
    "gender": ("text", "性别"),
    "birth_date": ("date", "出生日期"),
    "education": ("text", "学历学位"),
    "specialty": ("text", "专业"),
    "current_title": ("text", "现专业技术职务"),
    "recognition_doc": ("text", "人才类别认定文件"),
    "introduction_mode": ("text", "引进方式"),
    "supervisor": ("text", "主管部门"),
    "post_name": ("text", "岗位名称"),
    "post_level": ("text", "岗位等级"),
    "quota_source": ("text", "编制来源"),
    "hire_date": ("date", "聘用日期"),
    "hire_type": ("text", "聘用类型"),
    "hire_type_before": ("text", "列编前聘用类型"),
    "original_hire_date": ("date", "原聘用日期"),
    "registered_date": ("date", "列编日期"),
    "complete_date": ("date", "材料齐全日期"),
    "filing_deadline": ("date", "备案办结期限"),
    "opinions": ("list", "审核意见"),
    "post_count": ("int", "设置数量"),
    "term_months": ("int", "聘期（月）"),
    "term_start": ("date", "聘期起始日期"),
    "term_end": ("date", "聘期截止日期"),
    "requested_term_months": ("int", "申请聘期（月）"),
    "term_capped": ("bool", "聘期按上限核定"),
    "requested_start": ("date", "申请起始日期"),
    "start_note": ("text", "起聘说明"),
    "regular_post": ("text", "转聘正常岗位情况"),
    "duties": ("text", "岗位职责与任务"),
    "approval_doc_no": ("text", "原核准文号"),
    "writeoff_reason": ("text", "核销原因"),
    "writeoff_date": ("date", "核销日期"),
    "applied_title": ("text", "申报职称"),
    "basis": ("text", "申报依据"),
    "body": ("text", "正文"),
    "decided_date": ("date", "核准日期"),
    "basis_source": ("text", "设定依据"),
    "basis_clause": ("text", "依据条款"),
    "achievements": ("text", "主要业绩成果"),
    "second_level_post": ("bool", "破格申报专业技术二级岗位"),
    "off_post_startup": ("bool", "离岗创业人员"),
    "delayed_retirement": ("bool", "延迟退休"),
    "subject": ("text", "公示事项"),
    "persons": ("list", "公示人员"),
    "period_start": ("date", "公示开始日期"),
    "period_end": ("date", "公示截止日期"),
    "objection_contact": ("text", "异议受理联系方式"),
    "committee": ("text", "评审委员会"),
    "review_date": ("date", "评审日期"),
    "experts_total": ("int", "应到评委人数"),
    "experts_present": ("int", "到会评委人数"),
    "votes_for": ("int", "同意票数"),
    "votes_against": ("int", "不同意票数"),
    "votes_abstain": ("int", "弃权票数"),
    "threshold_words": ("text", "通过比例"),
    "passed": ("bool", "达到通过比例"),
    "result": ("text", "评审结果"),
    "completed_date": ("date", "办结日期"),
    "outcome": ("text", "办理结果"),
}

LIST_ITEM_KEYS: dict[str, dict[str, tuple[str, str]]] = {
    "owed_items": {"name": ("text", "材料名称"), "supply_form": ("text", "提供形式"), "deadline": ("date", "补交期限")},
    "items": {"name": ("text", "材料名称"), "requirement": ("text", "补正要求")},
    "persons": {"name": ("text", "姓名"), "unit": ("text", "单位"), "detail": ("text", "公示内容")},
    "opinions": {"stage": ("text", "审核环节")},
    "quotes": {"source": ("text", "出处"), "text": ("text", "原文")},
}

COMMON_FIELDS = (
    "doc_no",
    "issue_date",
    "issuer",
    "verify_code",
    "verify_url",
    "case_no",
    "applicant_name",
    "unit_name",
)

QUOTA_SOURCES = {"own": "本单位空余编制", "pool": "人才专项编制"}


@dataclass(frozen=True)
class DocumentKind:
    key: str
    title: str  # Chinese title printed on the document
    template: str  # file in documents/templates/
    required: tuple[str, ...]  # data fields that must be present (common + per kind)
    office: str  # the issuing office (role) for this kind of document
    procedure: str  # procedure(s) it belongs to
    layout: str = "notice"  # "notice" (红头公文) or "form" (表格)
    optional: tuple[str, ...] = field(default=())
    numbered: bool = True  # False: no office number (a paper the applicant signs)

    @property
    def labels(self) -> dict[str, str]:
        return {name: FIELDS[name][1] for name in self.required}


def _kind(key, title, office, procedure, fields, layout="notice", optional=(), numbered=True):
    common = COMMON_FIELDS if numbered else tuple(f for f in COMMON_FIELDS if f != "doc_no")
    return DocumentKind(
        key=key,
        title=title,
        template=f"{key}.html",
        required=common + tuple(fields),
        office=office,
        procedure=procedure,
        layout=layout,
        optional=tuple(optional),
        numbered=numbered,
    )


_HRSS = "人力资源社会保障厅（局）"
_ADDRESSEE = ("addressee", "you", "addressee_kind")  # 主送 and how the text calls them (你 / 你单位)
# what every adverse paper may carry besides its own fields (the clause quoted, or the basis; the remedy sentence)
_ADVERSE = ("quotes", "rule_basis", "clause", "clause_source", "rule_title", "remedy", *_ADDRESSEE)
_GREEN = "绿色通道列编注册"
_POST = "特设岗位"
_TITLE = "职称绿色通道"

KINDS: dict[str, DocumentKind] = {
    k.key: k
    for k in (
        _kind(
            "acceptance_notice",
            "受理通知书",
            _HRSS,
            _GREEN,
            ("procedure_name", "submitted_date", "materials", "promised_date"),
            optional=("next_office", *_ADDRESSEE),
        ),
        _kind(
            "rongque_acceptance_notice",
            "容缺受理通知书",
            _HRSS,
            _GREEN,
            ("procedure_name", "submitted_date", "owed_items", "deadline", "signed_date"),
            optional=("promised_date", *_ADDRESSEE),
        ),
        _kind(
            "rongque_commitment",
            "容缺受理承诺书",
            "申请人（向" + _HRSS + "作出）",
            _GREEN,
            ("procedure_name", "owed_items", "deadline", "signed_date", "id_number"),
            layout="form",
            numbered=False,  # the applicant's own commitment: no office number
        ),
        _kind(
            "refusal_notice",
            "不予受理通知书",
            _HRSS,
            f"{_GREEN}、{_POST}、{_TITLE}",
            ("procedure_name", "submitted_date", "reason", "rule_id"),
            optional=_ADVERSE + ("alternative_route",),
        ),
        _kind(
            "refusal_decision",
            "不予批准决定书",
            _HRSS,
            f"{_GREEN}、{_POST}、{_TITLE}",
            ("procedure_name", "submitted_date", "reason", "decision", "remedy"),
            optional=_ADVERSE + ("rule_id", "desk", "title"),
        ),
        _kind(
            "termination_notice",
            "终止办理通知书",
            _HRSS,
            f"{_GREEN}、{_POST}、{_TITLE}",
            ("procedure_name", "reason", "rule_id"),
            optional=_ADVERSE
            + ("submitted_date", "ground", "desk", "deadline", "lapsed_items", "commitment_date", "quota_released"),
        ),
        _kind(
            "correction_notice",
            "补正材料通知书",
            _HRSS,
            f"{_GREEN}、{_POST}、{_TITLE}",
            ("procedure_name", "submitted_date", "items", "deadline"),
            optional=_ADDRESSEE,
        ),
        _kind(
            "registration_filing_form",
            "事业单位“绿色通道”引进人才列编备案表",
            _HRSS + "、机构编制部门",
            _GREEN,
            (
                "gender",
                "birth_date",
                "education",
                "talent_category",
                "recognition_doc",
                "supervisor",
                "post_name",
                "quota_source",
                "hire_date",
                "complete_date",
                "filing_deadline",
            ),
            layout="form",
            optional=(
                "introduction_mode",
                "current_title",
                "id_number",
                "opinions",
                "hire_type",
                "hire_type_before",
                "original_hire_date",
                "registered_date",
            ),
        ),
        _kind(
            "special_post_form",
            "事业单位特设岗位设置申请（核准）表",
            _HRSS,
            _POST,
            (
                "supervisor",
                "post_name",
                "post_level",
                "post_count",
                "term_months",
                "term_start",
                "term_end",
                "reason",
                "duties",
            ),
            layout="form",
            optional=(
                "talent_category",
                "opinions",
                "requested_term_months",
                "term_capped",
                "requested_start",
                "start_note",
            ),
        ),
        _kind(
            "special_post_writeoff_notice",
            "关于核销特设岗位的通知",
            _HRSS,
            _POST,
            ("supervisor", "post_name", "post_level", "approval_doc_no", "writeoff_reason", "writeoff_date"),
            optional=("regular_post",),
        ),
        _kind(
            "title_application_form",
            "职称“绿色通道”直接申报高级职称申报表",
            "职称评审委员会办公室",
            _TITLE,
            (
                "gender",
                "birth_date",
                "education",
                "specialty",
                "current_title",
                "applied_title",
                "basis",
                "achievements",
            ),
            layout="form",
            optional=(
                "talent_category",
                "second_level_post",
                "off_post_startup",
                "delayed_retirement",
                "opinions",
                "id_number",
            ),
        ),
        _kind(
            "publicity_notice",
            "公示",
            "用人单位或" + _HRSS,
            f"{_GREEN}、{_TITLE}",
            ("subject", "persons", "period_start", "period_end", "objection_contact"),
        ),
        _kind(
            "title_filing_receipt",
            "职称评审结果备案回执",
            _HRSS,
            _TITLE,
            ("committee", "applied_title", "review_date", "experts_present", "votes_for", "result"),
            # as the committee recorded them; 应到 is printed as — for a vote recorded before it was collected
            optional=("experts_total", "votes_against", "votes_abstain", "threshold_words", "passed"),
        ),
        # 事项配置: a matter's 核准 paper — title and text as its administrator configured them
        _kind(
            "approval_notice",
            "核准通知书",
            _HRSS,
            "各事项（事项配置）",
            ("procedure_name", "body", "decided_date"),
            optional=("title", "basis_source", "basis_clause", *_ADDRESSEE),
        ),
        _kind(
            "completion_notice",
            "办结通知书",
            _HRSS,
            f"{_GREEN}、{_POST}、{_TITLE}",
            ("procedure_name", "completed_date", "outcome"),
            optional=_ADDRESSEE,
        ),
    )
}


# --------------------------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------------------------
def cn_date(value: dt.date | None) -> str:
    """2026-11-21 → 2026年11月21日 (年份全称, 月日不编虚位, GB/T 9704 7.3.5)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # snapshots carry ISO strings; a field not declared as a date may still be one
        try:
            value = dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = value.date()
    return f"{value.year}年{value.month}月{value.day}日"


_NO_LINE_START = set("，。、；：？！”’）》〕」』…")
_NO_LINE_END = set("“‘（《〔「『")


def balance_title(text: str, per_line: int = 20) -> Markup:
    """Break a long 标题 into lines of similar length (GB/T 9704 7.3.1: 回行时词意完整, 排列对称), instead of a
    full first line and a one-character orphan. Returns escaped HTML with <br>."""
    from markupsafe import escape

    text = text.unescape() if isinstance(text, Markup) else str(text)  # from a {% filter %} block: escaped
    text = text.strip()
    n = len(text)
    if n <= per_line:
        return escape(text)
    lines = -(-n // per_line)
    size = -(-n // lines)
    parts, start = [], 0
    while n - start > size:
        cut = start + size
        while cut > start + 1 and (text[cut] in _NO_LINE_START or text[cut - 1] in _NO_LINE_END):
            cut -= 1
        parts.append(text[start:cut])
        start = cut
    parts.append(text[start:])
    return Markup("<br>").join(escape(p) for p in parts)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise TypeError(type(value).__name__)


def _coerce(name: str, kind_: str, value: Any, label: str) -> Any:
    try:
        if kind_ == "text":
            if not isinstance(value, (str, int)):
                raise TypeError
            return str(value).strip()
        if kind_ == "date":
            return _to_date(value)
        if kind_ == "int":
            if isinstance(value, bool):
                raise TypeError
            return int(value)
        if kind_ == "bool":
            return bool(value)
        if kind_ == "list_text":
            if isinstance(value, str):
                value = [value]
            return [str(v).strip() for v in value if str(v).strip()]
        if kind_ == "list":
            if isinstance(value, Mapping) or isinstance(value, str):
                raise TypeError
            items = []
            spec = LIST_ITEM_KEYS.get(name, {})
            for i, item in enumerate(value, 1):
                if not isinstance(item, Mapping):
                    raise TypeError
                missing = [k for k in spec if item.get(k) in (None, "")]
                if missing:
                    raise DocumentDataError(
                        f"“{label}”第{i}项缺少：" + "、".join(f"{spec[k][1]}（{k}）" for k in missing), (name,)
                    )
                item = dict(item)
                for k, (t, sub_label) in spec.items():
                    item[k] = _coerce(k, t, item[k], sub_label)
                items.append(item)
            return items
    except DocumentDataError:
        raise
    except (TypeError, ValueError):
        expected = {
            "text": "文字",
            "date": "日期（如 2026-11-21）",
            "int": "整数",
            "bool": "是/否",
            "list_text": "文字列表",
            "list": "条目列表",
        }[kind_]
        raise DocumentDataError(f"字段“{label}”（{name}）格式不正确，应为{expected}。", (name,)) from None
    return value


def validate(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check the data for a kind; return a normalised copy (dates as date, lists as lists). Raises DocumentDataError."""
    spec = KINDS.get(kind)
    if spec is None:
        raise DocumentDataError(f"未知的文书类型：{kind}。可用类型：" + "、".join(KINDS), ("kind",))
    if not isinstance(data, Mapping):
        raise DocumentDataError("文书数据应为字典（键值对）。")
    missing = [f for f in spec.required if _is_empty(data.get(f))]
    if missing:
        names = "、".join(f"{FIELDS[f][1]}（{f}）" for f in missing)
        raise DocumentDataError(f"生成《{spec.title}》缺少必填字段：{names}。", missing)
    out = dict(data)
    for name, value in data.items():
        if name in FIELDS and not _is_empty(value):
            t, label = FIELDS[name]
            out[name] = _coerce(name, t, value, label)
    if "quota_source" in out:
        qs = out["quota_source"]
        if qs not in QUOTA_SOURCES and qs not in QUOTA_SOURCES.values():
            raise DocumentDataError(
                "字段“编制来源”（quota_source）应为 own（本单位空余编制）或 pool（人才专项编制）。", ("quota_source",)
            )
    for name in ("materials",):
        if name in spec.required and not out.get(name):
            raise DocumentDataError(f"生成《{spec.title}》缺少必填字段：{FIELDS[name][1]}（{name}）。", (name,))
    return out


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if isinstance(value, (list, tuple)) and not value:
        return True
    return False


def qr_data_uri(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_data_uri(scale=4, border=0, dark="#000")


def verify_page(verify_url: str) -> str:
    """The page where a holder of the paper types the code: https://host/verify/CODE → https://host/verify."""
    head, sep, _code = verify_url.rstrip().rpartition("/verify/")
    return f"{head}/verify" if sep else verify_url


def org_mark_size(issuer: str) -> float:
    """Font size (pt) of the 发文机关标志 so that it fits the 156 mm 版心 on one line (max 一号 26pt·1.2)."""
    width_pt = 156 / 25.4 * 72 * 0.96
    n = max(len(issuer), 1)
    return round(min(32.0, width_pt / (n * 1.05)), 2)


# --------------------------------------------------------------------------------------------------------------
# The renderer: process-wide shared state
# --------------------------------------------------------------------------------------------------------------
class Renderer:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ready = False
        self.parsed_css: dict[tuple[str, str], Any] = {}  # (css, stylesheet path) → CSS, for plain_document

    def _setup(self) -> None:
        if self._ready:
            return
        import jinja2
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        self.font_config = FontConfiguration()
        faces = []
        self.vendor_fonts = []
        for family, filename, weight in VENDOR_FONTS:
            path = VENDOR_FONT_DIR / filename
            if path.is_file():
                self.vendor_fonts.append(filename)
                faces.append(
                    f'@font-face {{ font-family: "{family}"; font-weight: {weight}; src: url("{path.as_uri()}"); }}'
                )
        if len(self.vendor_fonts) < len(VENDOR_FONTS):
            LOGGER.info(
                "Fandol fonts missing in %s (run scripts/fetch-fonts.sh); falling back to Noto CJK", VENDOR_FONT_DIR
            )
        self.stylesheets = []
        if faces:
            self.stylesheets.append(CSS(string="\n".join(faces), font_config=self.font_config))
        self.font_stylesheets = list(self.stylesheets)  # the fonts alone (documents/case_file.py has its own layout)
        self.stylesheets.append(CSS(filename=str(STYLESHEET), font_config=self.font_config))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
            autoescape=jinja2.select_autoescape(("html",)),
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.env.filters["cn_date"] = cn_date
        self.env.filters["balance_title"] = balance_title
        self.env.globals["QUOTA_SOURCES"] = QUOTA_SOURCES
        self._ready = True

    def html(self, kind: str, data: Mapping[str, Any]) -> str:
        """The HTML source of a document (validated); useful for debugging templates."""
        values = validate(kind, data)
        spec = KINDS[kind]
        with self._lock:
            self._setup()
            template = self.env.get_template(spec.template)
        values.setdefault("printer", values["issuer"])
        values.setdefault("print_date", values["issue_date"])
        values.setdefault("addressee", values["applicant_name"])
        ctx = dict(values)
        ctx.update(
            kind=spec,
            d=values,
            qr=qr_data_uri(values["verify_url"]),
            verify_page=verify_page(values["verify_url"]),
            org_mark_pt=org_mark_size(values["issuer"]),
        )
        if not spec.numbered:
            ctx["doc_no"] = ""
        return template.render(ctx)

    def render(self, kind: str, data: Mapping[str, Any]) -> bytes:
        source = self.html(kind, data)
        from weasyprint import HTML

        with self._lock:
            self._setup()
            document = HTML(string=source, base_url=str(TEMPLATE_DIR) + "/").render(
                font_config=self.font_config, stylesheets=self.stylesheets
            )
            meta = document.metadata
            meta.title = str(data.get("title") or KINDS[kind].title)
            meta.authors = [str(data.get("issuer", ""))]
            meta.created = meta.modified = None
            return document.write_pdf()


_RENDERER = Renderer()


def render(kind: str, data: Mapping[str, Any]) -> bytes:
    """Render a document of ``kind`` (a key of KINDS) from ``data``; return the PDF bytes."""
    return _RENDERER.render(kind, data)


def render_plain(html: str, css: str = "") -> bytes:
    """A PDF of ad-hoc HTML with the documents' fonts ("GW Fang", "GW Song", "GW Kai", "GW Hei") and the given CSS
    only (no GB/T 9704 layout): the 卷宗's stamp and notes (documents/case_file.py), sample files of the demo."""
    with _RENDERER._lock:
        document = plain_document(html, css=css)
        document.metadata.created = document.metadata.modified = None
        return document.write_pdf()


def plain_document(html: str, *, css: str = "", stylesheet: Path | None = None):
    """The rendered (not yet written) WeasyPrint document of ad-hoc HTML with the documents' fonts and `css` (a
    string) or `stylesheet` (a file). Parsed stylesheets are kept: a CSS object can serve any number of renders
    with the same font configuration. Caller holds `_RENDERER._lock` (the font configuration is shared)."""
    from weasyprint import HTML

    _RENDERER._setup()
    sheets = [*_RENDERER.font_stylesheets]
    if css or stylesheet:
        sheets.append(_parsed_css(css, stylesheet))
    return HTML(string=html, base_url=str(TEMPLATE_DIR) + "/").render(
        font_config=_RENDERER.font_config, stylesheets=sheets
    )


def _parsed_css(css: str, stylesheet: Path | None):
    # the callers' CSS are a handful of constants (the 卷宗's layout, stamp and notes; the demo's sample files)
    key = (css, str(stylesheet or ""))
    sheet = _RENDERER.parsed_css.get(key)
    if sheet is None:
        from weasyprint import CSS

        if stylesheet is not None:
            sheet = CSS(filename=str(stylesheet), font_config=_RENDERER.font_config)
        else:
            sheet = CSS(string=css, font_config=_RENDERER.font_config)
        _RENDERER.parsed_css[key] = sheet
    return sheet


def render_html(kind: str, data: Mapping[str, Any]) -> str:
    return _RENDERER.html(kind, data)


def warm_up() -> None:
    """Build the shared font configuration and stylesheets now (e.g. at web-worker start)."""
    with _RENDERER._lock:
        _RENDERER._setup()


def render_png_pages(pdf: bytes, out_dir: str | Path, stem: str, dpi: int = 60) -> list[Path]:
    """Rasterise every page of ``pdf`` with pdftoppm into ``out_dir/stem-N.png``; return the files (for tests)."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise RuntimeError("pdftoppm not found: apt-get install poppler-utils")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{glob_escape(stem)}-*.png"):
        old.unlink()
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(pdf)
        tmp.flush()
        subprocess.run(
            [exe, "-png", "-r", str(dpi), tmp.name, str(out / stem)], check=True, capture_output=True, timeout=60
        )
    return sorted(out.glob(f"{glob_escape(stem)}-*.png"), key=lambda p: int(re.findall(r"-(\d+)\.png$", p.name)[0]))


def glob_escape(s: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", s)


__all__ = [
    "DocumentDataError",
    "DocumentKind",
    "KINDS",
    "FIELDS",
    "render",
    "render_html",
    "render_plain",
    "render_png_pages",
    "validate",
    "cn_date",
    "warm_up",
    "Renderer",
]
