"""The procedure registry: each procedure (事项) declared once — its process id, names, start form, materials checklist,
who may start it, which fields a return may correct, which step issues which document and which office numbers it,
and the texts its documents need.

Everything else reads this module; a procedure id appears as a literal here, in its BPMN file, in tests and in
migrations only. Adding a procedure means a BPMN file in `bpmn/` plus one `Procedure` entry below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from workflows.domain.clock import today_local
from workflows.domain.errors import ValidationFailed

# Issuing offices (unit codes of the regional offices). OWN_OFFICE and PUBLICITY_OFFICE stand for the procedure's own
# office and for the office that publishes a 公示 (the unit, or the committee for review results) in STEP_DOCUMENTS.
HRSS_OFFICE, BIANBAN_OFFICE, COMMITTEE_OFFICE = "RS", "BB", "PW"
# the 科技厅: dispatches the 权益保障 window's complaints each quarter and issues the 季度调度通报 (seed 000 §三(三))
SCIENCE_OFFICE = "D01"
OWN_OFFICE, PUBLICITY_OFFICE = "<own>", "<publicity>"


@dataclass(frozen=True)
class MaterialType:
    code: str
    name: str
    is_key: bool = False  # R3: every key item must be present for 容缺受理
    # a secondary item that may not be owed under 容缺 (must be present like a key item: the case's checklist
    # records it as one)
    rongque: bool = True
    file_types: tuple[str, ...] = ("pdf", "jpg", "png")  # what the upload may be (checked by content)

    @property
    def required_at_intake(self) -> bool:
        return self.is_key or not self.rongque


@dataclass(frozen=True)
class Publicity:
    """The subject and one person's line of a 公示 (`detail` is formatted with the application's data)."""

    subject: str
    detail: str
    detail_without_category: str | None = None  # when the application names no talent category


@dataclass(frozen=True)
class Procedure:
    id: str  # the BPMN process id (bpmn/<id>.bpmn)
    name: str  # pages and lists (zh)
    name_en: str
    short_name: str  # how documents/ names the procedure (documents.KINDS[...].procedure)
    document_title: str  # the procedure as documents name it (办结通知书, 不予受理通知书 …)
    intro: str  # what the applicant's choice page says about it (zh)
    intro_en: str
    letter: str  # the letter in its case numbers (L2026…)
    office: str  # the office that accepts, refuses, terminates and closes its cases
    rule_id: str  # the eligibility rule a refusal without a rule of its own falls back on
    start_properties: Mapping[str, dict]
    required: tuple[str, ...]
    defaults: Mapping[str, object]
    materials: tuple[MaterialType, ...]
    person_fields: tuple[str, str]  # (name, ID number) fields of the person the case is about
    correctable: frozenset[str]  # fields an applicant may correct on resubmission
    applicant_may_start: bool  # False: only the unit's HR officer starts it
    rongque: bool  # 容缺受理 (R3): key items complete, the rest owed against a commitment
    opinions: tuple[tuple[str, str, str], ...]  # (process field, 备案表 box, signer: unit | dept | office code)
    step_documents: Mapping[str, tuple[tuple[str, str], ...]]  # step[:mode/outcome] → (kind, issuing office)
    publicity: Mapping[str, Publicity] = field(default_factory=dict)  # 公示 kind (unit | result) → texts
    completion_outcome: str = ""  # the 办结通知书's outcome, formatted with the application's data
    # the applicant's warning before submitting, when the procedure's eligibility rule will refuse the data ('' if not)
    intake_check: Callable[[dict], str] | None = None
    conditions: tuple[dict, ...] = ()  # `if`/`then` blocks of the start schema (a field required for one choice)
    # What the schema cannot check: derived fields and cross-field rules, applied after the schema and before the
    # defaults (`data` holds only what was submitted); raises ValidationFailed with the field.
    normalize: Callable[[dict], dict] | None = None

    def prepare(self, data: dict) -> dict:
        """Submitted start data → the case's start data: normalized, then the defaults under it."""
        return {**self.defaults, **(self.normalize(data) if self.normalize else data)}

    # Who its notices and decisions are addressed to: the person who applied, or the unit that filed.
    addressee: str = "person"  # person | unit
    # A refusal after acceptance (status `refused`, 不予批准) in the procedure's own words: by the rule that decided,
    # else by the role of the desk that refused (unit_hr, dept, hrss …), else "" — the decision's name, and with
    # 决定书 its document's title.
    refusals: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({"": "不予批准"}))
    # the rule a desk's refusal applies when the process names none (特设岗位: R8 requires both desks' approval)
    desk_rule: str | None = None
    # filed by a unit about a person (applicant_may_start False): the document kinds that decide about that person,
    # which they see on their own page — not the unit's application, materials or opinions
    holder_documents: frozenset[str] = frozenset()
    # "application" (chosen on the applicant's 申请 page) or "complaint" (the 权益保障 window: its own page, its cases
    # scoped to the handling office only, no identity kept on the case when anonymous)
    kind: str = "application"
    # 事项配置: what an administrator configured (basic information, texts of the generic notice; for a declared
    # procedure its overlay's basic information) — {} for the procedures as declared in this module; a matter's
    # version (0: as declared here); `configured`: a matter that is data only (its own flow template, no code)
    info: Mapping[str, object] = field(default_factory=dict)
    matter_version: int = 0
    configured: bool = False
    # 事项配置 of a procedure declared here: the start fields code reads (field → the rule or paper that reads it;
    # they stay in the form, typed as declared), when its flow reads the 承诺时限 ('': it sets no promised date), the
    # placeholders its 办结通知书 outcome text may use, and its 设定依据 (rule id, index of the rule's quotation)
    code_reads: Mapping[str, str] = field(default_factory=dict)
    promise_step: str = ""
    outcome_placeholders: tuple[str, ...] = ()
    basis: tuple[str, int] | None = None

    @property
    def start_schema(self) -> dict:
        """The JSON Schema an application must satisfy to start a case."""
        return _start_schema(self)

    def material(self, code: str) -> MaterialType | None:
        return next((m for m in self.materials if m.code == code), None)

    def material_name(self, code: str) -> str:
        m = self.material(code)
        return m.name if m is not None else code

    def person(self, data: dict) -> tuple[str, str]:
        """(name, ID number) of the person the case is about (a special post's holder)."""
        return data[self.person_fields[0]], data[self.person_fields[1]]

    def documents_for(self, step: str, qualifier: str | None = None) -> tuple[tuple[str, str], ...]:
        """(kind, office or placeholder) of the documents `step` issues; `qualifier` is the step's mode or outcome."""
        if qualifier and f"{step}:{qualifier}" in self.step_documents:
            return self.step_documents[f"{step}:{qualifier}"]
        return self.step_documents.get(step, ())

    def label(self, locale: str | None) -> str:
        return self.name_en if str(locale or "").startswith("en") else self.name

    def refusal(self, rule_id: str | None, role: str | None = None) -> str:
        """What a refusal after acceptance is called in this procedure (不予列编, 评审未通过 …)."""
        for key in (rule_id, role):
            if key and key in self.refusals:
                return self.refusals[key]
        return self.refusals[""]


# ---- start forms ------------------------------------------------------------------------------------------------
ID_NUMBER = {"type": "string", "title": "公民身份号码", "pattern": r"^[0-9]{17}[0-9Xx]$"}
NAME = {"type": "string", "minLength": 1, "maxLength": 50}
CATEGORY = {"title": "人才类别", "oneOf": [{"type": "integer", "minimum": 1, "maximum": 7}, {"type": "null"}]}
MODE = {"title": "引进方式", "enum": ["rigid", "flexible"], "x-enumTitles": ["刚性引进", "柔性引进"]}
DATE = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}

_schemas: dict[tuple[str, int], dict] = {}


def _start_schema(p: Procedure) -> dict:
    key = (p.id, p.matter_version)  # a running case may read an older version of its matter
    schema = _schemas.get(key)
    if schema is None:
        schema = _schemas[key] = {
            **({"allOf": list(p.conditions)} if p.conditions else {}),
            "type": "object",
            "additionalProperties": False,
            "required": list(p.required),
            "properties": {
                **p.start_properties,
                "unit_code": {"type": "string", "title": "用人单位", "minLength": 1, "maxLength": 32},
                "materials": {
                    "type": "array",
                    "title": "已提交材料",
                    "uniqueItems": True,
                    "items": {"enum": [m.code for m in p.materials]},
                },
            },
        }
    return schema


# ---- documents each step issues (shared by every procedure; a procedure adds or overrides keys) ---------------------
STEP_DOCUMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "accept_case": (("acceptance_notice", OWN_OFFICE),),
    "accept_case:rongque": (("rongque_acceptance_notice", OWN_OFFICE), ("rongque_commitment", OWN_OFFICE)),
    # the end of a case and its paper (workflows/domain/outcomes.py)
    "close_case:not_accepted": (("refusal_notice", OWN_OFFICE),),
    "close_case:refused": (("refusal_decision", OWN_OFFICE),),
    "close_case:terminated": (("termination_notice", OWN_OFFICE),),
    "start_publicity": (("publicity_notice", PUBLICITY_OFFICE),),
}


def _steps(**own: tuple[tuple[str, str], ...]) -> Mapping[str, tuple[tuple[str, str], ...]]:
    return MappingProxyType({**STEP_DOCUMENTS, **{k.replace("__", ":"): v for k, v in own.items()}})


# ---- R5: how the person is employed now (列编 makes it 编制内) ------------------------------------------------------
HIRE_OUTSIDE, HIRE_NEW, HIRE_ESTABLISHED = "outside_establishment", "new_hire", "established"
HIRE_TYPES: Mapping[str, str] = MappingProxyType(
    {HIRE_OUTSIDE: "编制外聘用", HIRE_NEW: "新引进", HIRE_ESTABLISHED: "编制内"}
)


def _registration_hire(data: dict) -> dict:
    """hire_type and the older outside_establishment flag say the same thing (either may be sent; both must agree);
    编制外聘用 needs the original hire date, which cannot lie in the future."""
    d = dict(data)
    if d.get("hire_type") is None:
        d["hire_type"] = HIRE_OUTSIDE if d.get("outside_establishment") else HIRE_NEW
    elif "outside_establishment" in d and bool(d["outside_establishment"]) != (d["hire_type"] == HIRE_OUTSIDE):
        raise ValidationFailed(
            "聘用类型与“现为编制外聘用”不一致", details={"fields": {"hire_type": "与“现为编制外聘用”不一致"}}
        )
    d["outside_establishment"] = d["hire_type"] == HIRE_OUTSIDE
    raw = d.get("original_hire_date") or None
    if raw is None:
        d.pop("original_hire_date", None)
        if d["outside_establishment"]:
            raise ValidationFailed(
                "编制外聘用人员须填写原聘用日期", details={"fields": {"original_hire_date": "此项为必填项"}}
            )
    else:
        try:
            hired = date.fromisoformat(str(raw))
        except ValueError:
            raise ValidationFailed(
                "原聘用日期格式不正确", details={"fields": {"original_hire_date": "格式不正确"}}
            ) from None
        if hired > today_local():
            raise ValidationFailed("原聘用日期不能晚于今天", details={"fields": {"original_hire_date": "不能晚于今天"}})
    return d


# ---- what reads a start field (事项配置 keeps these fields, typed as declared) -------------------------------------
_PERSON = "R10 科研失信核查（办件涉及的人员）"
_R1_TABLE = "R1 人才类别与通道资格判定表（talent_eligibility.dmn）"
_R9_TABLE = "R9 人才类别与通道资格判定表（talent_eligibility.dmn）"


# ---- the three procedures of the seeds ----------------------------------------------------------------------------
REGISTRATION = Procedure(
    id="green_channel_registration",
    name="绿色通道列编注册",
    name_en="Green Channel establishment registration",
    short_name="绿色通道列编注册",
    document_title="“绿色通道”列编注册",
    intro="经认定的第一至第六类刚性引进高层次人才，由用人单位使用本单位空余编制或自治区人才专项编制办理列编注册。"
    "关键材料齐全即可容缺受理，材料全部齐全的即收即办。",
    intro_en="Recognised Category 1–6 high-level talent recruited on a full-time (rigid) basis is registered on an "
    "establishment post, using a vacant post of the employing unit or the Autonomous Region's talent special "
    "establishment pool. With the key documents complete the application can be accepted with deferred "
    "documents (容缺); with all documents complete it is handled the same day.",
    letter="L",
    office=HRSS_OFFICE,
    rule_id="R1",
    start_properties=MappingProxyType(
        {
            "applicant_name": {**NAME, "title": "姓名"},
            "id_number": ID_NUMBER,
            "talent_category": CATEGORY,
            "introduction_mode": MODE,
            "hire_type": {
                "title": "聘用类型",
                "enum": [HIRE_OUTSIDE, HIRE_NEW],
                "x-enumTitles": [HIRE_TYPES[HIRE_OUTSIDE], HIRE_TYPES[HIRE_NEW]],
            },
            "original_hire_date": {**DATE, "title": "原聘用日期"},
            # the older way of saying 编制外聘用 (API clients): kept in step with hire_type by _registration_hire
            "outside_establishment": {"type": "boolean", "title": "现为编制外聘用"},
        }
    ),
    required=("applicant_name", "id_number", "unit_code", "talent_category", "introduction_mode", "materials"),
    defaults=MappingProxyType({"outside_establishment": False, "hire_type": HIRE_NEW}),
    materials=(
        MaterialType("id_card", "居民身份证", True),
        MaterialType("talent_recognition", "人才类别认定文件", True),
        MaterialType("employment_contract", "聘用合同或拟聘决定", True),
        MaterialType("assessment_material", "考察材料", True),
        MaterialType("degree_certificate", "学历学位证书"),
        MaterialType("health_check", "体检报告"),
        MaterialType("no_crime_record", "无犯罪记录证明"),
        MaterialType("resume", "个人简历"),
    ),
    person_fields=("applicant_name", "id_number"),
    correctable=frozenset(
        {"talent_category", "introduction_mode", "outside_establishment", "hire_type", "original_hire_date"}
    ),
    applicant_may_start=True,
    rongque=True,
    opinions=(
        ("unit_opinion", "用人单位意见", "unit"),
        ("dept_opinion", "主管部门意见", "dept"),
        ("pool_opinion", "机构编制部门意见", BIANBAN_OFFICE),
        ("filing_note", "人力资源社会保障部门备案意见", HRSS_OFFICE),
    ),
    step_documents=_steps(
        close_case__completed=(("registration_filing_form", HRSS_OFFICE), ("completion_notice", OWN_OFFICE))
    ),
    publicity=MappingProxyType(
        {
            "unit": Publicity(
                "“绿色通道”引进人才列编注册人选", "刚性引进第{talent_category}类人才，拟列编注册", "拟列编注册"
            )
        }
    ),
    completion_outcome="已列编注册为事业编制人员（使用{quota_source}1名），列编备案已完成",
    conditions=(
        {
            "if": {"properties": {"hire_type": {"const": HIRE_OUTSIDE}}, "required": ["hire_type"]},
            "then": {"required": ["original_hire_date"]},
        },
    ),
    normalize=lambda data: _registration_hire(data),
    refusals=MappingProxyType({"": "不予列编"}),
    code_reads=MappingProxyType(
        {
            "applicant_name": _PERSON,
            "id_number": _PERSON,
            "talent_category": _R1_TABLE,
            "introduction_mode": _R1_TABLE,
            "hire_type": "R5 编制外聘用考核后列编",
            "original_hire_date": "R5 列编备案表（原聘用日期）",
            "outside_establishment": "R5 流程网关“是否编制外聘用？”",
        }
    ),
    promise_step="受理（即收即办或容缺受理）时计算承诺办结日期",
    outcome_placeholders=("quota_source",),
    basis=("R1", 0),
)

SPECIAL_POST = Procedure(
    id="special_post",
    name="特设岗位设置与核销",
    name_en="Special post creation and write-off",
    short_name="特设岗位",
    document_title="特设岗位设置",
    intro="特设岗位由用人单位申请设置（本人无需在此申请）：请与所在单位人事部门联系，由单位人事专员在系统中提交。",
    intro_en="Special posts are requested by the employing unit (you do not apply here): please contact your unit's "
    "HR department; the unit's HR officer submits the request in the system.",
    letter="T",
    office=HRSS_OFFICE,
    rule_id="R8",
    start_properties=MappingProxyType(
        {
            "post_name": {**NAME, "title": "岗位名称"},
            "post_level": {**NAME, "title": "岗位等级"},
            "term_months": {"type": "integer", "title": "聘期（月）", "minimum": 1, "maximum": 240},
            "requested_start_on": {**DATE, "title": "拟聘起始日期"},
            "holder_name": {**NAME, "title": "拟聘人员姓名"},
            "holder_id_number": ID_NUMBER,
            "unit_has_vacancy_at_level": {"type": "boolean", "title": "本单位有相应等级空缺岗位"},
            "reason": {"type": "string", "title": "设置理由", "maxLength": 1000},
        }
    ),
    required=(
        "post_name",
        "post_level",
        "term_months",
        "holder_name",
        "holder_id_number",
        "unit_code",
        "unit_has_vacancy_at_level",
        "materials",
    ),
    defaults=MappingProxyType({"reason": "", "unit_has_vacancy_at_level": False}),
    materials=(
        MaterialType("post_plan", "特设岗位设置方案", True),
        MaterialType("holder_id_card", "拟聘人员身份证", True),
        MaterialType("talent_recognition", "人才类别认定文件"),
    ),
    person_fields=("holder_name", "holder_id_number"),
    correctable=frozenset(
        {"post_name", "post_level", "term_months", "requested_start_on", "reason", "unit_has_vacancy_at_level"}
    ),
    applicant_may_start=False,
    rongque=False,
    opinions=(("dept_opinion", "主管部门意见", "dept"), ("hrss_opinion", "人力资源社会保障部门核准意见", HRSS_OFFICE)),
    # a special post's case closes with its 核销 notice, not a 办结通知书
    step_documents=_steps(
        close_case__completed=(),
        register_special_post=(("special_post_form", HRSS_OFFICE),),
        writeoff_special_post=(("special_post_writeoff_notice", HRSS_OFFICE),),
    ),
    completion_outcome="特设岗位已核销",
    addressee="unit",  # filed by the unit (applicant_may_start=False)
    refusals=MappingProxyType({"": "不予核准"}),
    desk_rule="R8",
    holder_documents=frozenset(
        {"special_post_form", "refusal_notice", "refusal_decision", "special_post_writeoff_notice"}
    ),
    code_reads=MappingProxyType(
        {
            "holder_name": _PERSON,
            "holder_id_number": _PERSON,
            "post_name": "R8 特设岗位核准表与台账",
            "post_level": "R8 特设岗位核准表与台账",
            "term_months": "R8 聘期上限",
            "requested_start_on": "R8 聘期起算日",
            "unit_has_vacancy_at_level": "R8 无相应等级空缺岗位方可设置",
            "reason": "R8 特设岗位核准表（设岗理由）",
        }
    ),
    basis=("R8", 0),
)

SENIOR_TITLE = Procedure(
    id="senior_title_direct",
    name="职称绿色通道直接申报",
    name_en="Green Channel direct senior title application",
    short_name="职称绿色通道",
    document_title="职称评审“绿色通道”直接申报高级职称",
    intro="引进的高层次人才和取得重大业绩成果的专业技术人员，不受学历、资历、年限等限制，直接申报副高级或正高级职称，"
    "经单位、主管部门审核后由评委会评审。",
    intro_en="Recruited high-level talent and professionals with major achievements apply directly for an associate "
    "or full senior professional title, regardless of education, seniority or years of service; after review "
    "by the unit and the supervising department, the review committee assesses the application.",
    letter="Z",
    office=COMMITTEE_OFFICE,
    rule_id="R9",
    start_properties=MappingProxyType(
        {
            "applicant_name": {**NAME, "title": "姓名"},
            "id_number": ID_NUMBER,
            "talent_category": CATEGORY,
            "introduction_mode": {
                "title": "人才来源",
                "enum": ["rigid", "flexible", "local"],
                "x-enumTitles": ["刚性引进", "柔性引进", "本地培养人才"],
            },
            # a code of the administrators' register of major achievements and awards (R9), checked against the
            # entries active on the day by the start service (workflows/services/achievements.py), or null
            "achievement": {"title": "重大业绩", "type": ["string", "null"], "maxLength": 48},
            "target_level": {"title": "申报级别", "enum": ["副高", "正高"], "x-enumTitles": ["副高级", "正高级"]},
            "major": {"type": "string", "title": "申报专业", "maxLength": 100},
            "on_leave_entrepreneur": {"type": "boolean", "title": "离岗创业人员"},
            "delayed_retirement": {"type": "boolean", "title": "申请延迟退休"},
        }
    ),
    required=("applicant_name", "id_number", "unit_code", "introduction_mode", "target_level", "materials"),
    defaults=MappingProxyType(
        {
            "talent_category": None,
            "achievement": None,
            "on_leave_entrepreneur": False,
            "delayed_retirement": False,
            "major": "",
        }
    ),
    materials=(
        MaterialType("id_card", "居民身份证", True),
        MaterialType("achievement_proof", "业绩成果证明材料", True),
        MaterialType("talent_recognition", "人才类别认定文件"),
        MaterialType("degree_certificate", "学历学位证书"),
    ),
    person_fields=("applicant_name", "id_number"),
    correctable=frozenset(
        {
            "talent_category",
            "introduction_mode",
            "achievement",
            "target_level",
            "major",
            "on_leave_entrepreneur",
            "delayed_retirement",
        }
    ),
    applicant_may_start=True,
    rongque=False,
    opinions=(("unit_opinion", "用人单位推荐意见", "unit"), ("dept_opinion", "主管部门意见", "dept")),
    step_documents=_steps(
        close_case__completed=(("title_filing_receipt", HRSS_OFFICE), ("completion_notice", OWN_OFFICE))
    ),
    publicity=MappingProxyType(
        {
            "unit": Publicity(
                "职称评审“绿色通道”直接申报高级职称推荐人选", "拟推荐直接申报{target_level}级职称（{major}）"
            ),
            "result": Publicity(
                "职称评审“绿色通道”高级职称评审结果", "经评审，{target_level}级职称评审通过（{major}）"
            ),
        }
    ),
    completion_outcome="{target_level}级职称评审通过，评审结果已备案",
    # the unit or the department declines to recommend; the committee's vote (R9) fails
    refusals=MappingProxyType({"": "不予推荐", "R9": "评审未通过"}),
    code_reads=MappingProxyType(
        {
            "applicant_name": _PERSON,
            "id_number": _PERSON,
            "talent_category": _R9_TABLE,
            "introduction_mode": _R9_TABLE,
            "achievement": _R9_TABLE,
            "target_level": "R9 申报副高或正高（评审公示、职称评审备案回执）",
            "major": "R9 评审公示、职称评审备案回执（申报专业）",
            "on_leave_entrepreneur": "R9 离岗创业人员同等申报（申报表）",
            "delayed_retirement": "R9 延迟退休标记（申报表）",
        }
    ),
    outcome_placeholders=("target_level",),
    basis=("R9", 0),
)

# Seed 000 §二(二): 三类以上人才可不受正高级岗位受聘年限和所在单位岗位设置数量限制破格申报专业技术二级岗位.
SENIOR_POST_LEVEL2 = Procedure(
    id="senior_post_level2",
    name="专业技术二级岗位破格申报",
    name_en="Exceptional application for a level-2 professional post",
    short_name="二级岗位破格申报",
    document_title="专业技术二级岗位破格申报",
    intro="三类以上人才可不受正高级岗位受聘年限和所在单位岗位设置数量限制，破格申报专业技术二级岗位；经单位审核公示、"
    "主管部门审核、专家评议和结果公示，报人社部门核准后由单位聘用。",
    intro_en="Category 1–3 talent may apply for a level-2 professional post regardless of years in a full senior post "
    "and of the unit's post count; after the unit's review and publicity, the supervising department's review, the "
    "experts' assessment and the result publicity, the HR department approves and the unit appoints.",
    letter="E",
    office=HRSS_OFFICE,
    rule_id="R9",
    start_properties=MappingProxyType(
        {
            "applicant_name": {**NAME, "title": "姓名"},
            "id_number": ID_NUMBER,
            "talent_category": CATEGORY,
            "current_post": {"type": "string", "title": "现聘岗位", "minLength": 1, "maxLength": 50},
            "current_post_since": {**DATE, "title": "现岗位聘用时间"},
            "major": {"type": "string", "title": "专业领域", "maxLength": 100},
            "on_leave_entrepreneur": {"type": "boolean", "title": "离岗创业人员"},
            "delayed_retirement": {"type": "boolean", "title": "申请延迟退休"},
        }
    ),
    required=("applicant_name", "id_number", "unit_code", "talent_category", "current_post", "materials"),
    defaults=MappingProxyType(
        {
            "on_leave_entrepreneur": False,
            "delayed_retirement": False,
            "major": "",
            "current_post_since": None,
            # the eligibility table's other inputs (talent_eligibility.dmn reads them for every procedure)
            "introduction_mode": None,
            "achievement": None,
        }
    ),
    materials=(
        MaterialType("id_card", "居民身份证", True),
        MaterialType("talent_recognition", "人才类别认定文件", True),
        MaterialType("post_appointment", "现岗位聘用文件", True),
        MaterialType("achievement_proof", "业绩成果证明材料"),
    ),
    person_fields=("applicant_name", "id_number"),
    correctable=frozenset({"talent_category", "current_post", "current_post_since", "major", "delayed_retirement"}),
    applicant_may_start=True,
    rongque=False,
    opinions=(("unit_opinion", "用人单位推荐意见", "unit"), ("dept_opinion", "主管部门意见", "dept")),
    step_documents=_steps(close_case__completed=(("completion_notice", OWN_OFFICE),)),
    publicity=MappingProxyType(
        {
            "unit": Publicity("专业技术二级岗位破格申报推荐人选", "拟推荐破格申报专业技术二级岗位（{current_post}）"),
            "result": Publicity("专业技术二级岗位破格申报评议结果", "经专家评议，拟核准聘用专业技术二级岗位"),
        }
    ),
    completion_outcome="经专家评议和结果公示，核准聘用专业技术二级岗位",
    refusals=MappingProxyType({"": "不予推荐", "R9": "评议未通过", "hrss": "不予核准"}),
    intake_check=lambda data: level2_intake_refusal(data.get("talent_category")),
    code_reads=MappingProxyType(
        {
            "applicant_name": _PERSON,
            "id_number": _PERSON,
            "talent_category": _R9_TABLE + "及申请前的破格条件提示",
            "current_post": "R9 二级岗位破格推荐人选公示（现聘岗位）",
        }
    ),
    basis=("R9", 1),
)


def level2_intake_refusal(category) -> str:
    """What the applicant is told before submitting when 破格 is not open to them (the DMN decides the case the same
    way: tests/test_level2.py holds the two together)."""
    if isinstance(category, int) and 1 <= category <= 3:
        return ""
    return (
        "不符合破格条件：专业技术二级岗位破格申报限三类以上人才（“三类以上人才可不受正高级岗位受聘年限和所在单位"
        "岗位设置数量限制破格申报专业技术二级岗位”）。可在单位岗位设置和岗位空缺范围内，按常规程序竞聘专业技术二级岗位。"
    )


# R8: why a special post is written off (the message's reason → the label the post and its notice carry): 任务完成,
# 辞聘, 解聘 and 期满 are four different ends. The first three are what unit HR chooses for an early 核销; 期满 is
# the term-end timer's (a request for it is accepted only from the term's last day on); `holder_left` is the older
# catch-all the API still accepts.
WRITEOFF_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "task_done": "完成工作任务",
        "resigned": "聘用人员辞聘",
        "dismissed": "聘用人员被解聘",
        "term_end": "聘期届满",
        "holder_left": "聘用人员离岗",
    }
)
# After these the holder stays with the unit and moves to a regular post of the level (when one is vacant); after
# the others the holder has left.
WRITEOFF_HOLDER_STAYS = frozenset({"task_done", "term_end"})

# R1 refuses two different people and points each elsewhere (seed 000 二(二): the green channel is for 刚性引进 talent
# of category 1–6 only). 柔性引进 talent keeps its 柔性引进 agreement and takes no 编制 by any route; anyone else is
# hired through the ordinary routes.
R1_ROUTES: Mapping[str, str] = MappingProxyType(
    {
        "flexible": "柔性引进人才按其与用人单位签订的柔性引进协议提供服务，服务方式、期限和待遇依协议约定；"
        "柔性引进不占用事业编制，不通过任何途径办理列编注册。",
        "other": "如拟聘用，用人单位可按事业单位公开招聘的规定组织招聘，或按编制外聘用的规定办理聘用手续。",
    }
)


def r1_route(start_data: Mapping[str, object]) -> str:
    return R1_ROUTES["flexible" if start_data.get("introduction_mode") == "flexible" else "other"]


# ---- the 科研人员权益保障 window (seed 000 §三(三)) ----------------------------------------------------------------
RIGHTS_COMPLAINT = Procedure(
    id="rights_complaint",
    name="科研人员权益保障投诉反馈",
    name_en="Researchers' rights: complaint or feedback",
    short_name="权益保障投诉",
    document_title="科研人员权益保障投诉反馈",
    intro="科研人员对自身权益落实情况进行监督和反馈：按问题类别提交，由相关部门受理、办理并在规定时限内答复。",
    intro_en="Researchers report how their rights are honoured: filed by topic, accepted, handled and answered by "
    "the responsible office within the set time limit.",
    letter="Q",
    office="<handling>",  # the office the topic routes to (the case's unit), changed by a transfer
    rule_id="",
    start_properties=MappingProxyType(
        {
            "applicant_name": {"type": "string", "title": "投诉人", "minLength": 1, "maxLength": 50},
            "id_number": {"type": "string", "title": "公民身份号码", "pattern": r"^([0-9]{17}[0-9Xx])?$"},
            "topic": {"type": "string", "title": "问题类别代码", "minLength": 1, "maxLength": 32},
            "topic_name": {"type": "string", "title": "问题类别", "maxLength": 100},
            "subject": {"type": "string", "title": "标题", "minLength": 1, "maxLength": 100},
            "content": {"type": "string", "title": "投诉反馈内容", "minLength": 1, "maxLength": 4000},
            "complaint_type": {"title": "类型", "enum": ["complaint", "feedback"]},
            "anonymous": {"type": "boolean", "title": "对办理部门匿名"},
            "contact": {"type": "string", "title": "联系方式", "maxLength": 100},
        }
    ),
    required=("applicant_name", "id_number", "unit_code", "topic", "subject", "content"),
    defaults=MappingProxyType({"complaint_type": "complaint", "anonymous": False, "contact": ""}),
    materials=(),
    person_fields=("applicant_name", "id_number"),
    correctable=frozenset(),
    applicant_may_start=True,
    rongque=False,
    opinions=(),
    step_documents=MappingProxyType({}),  # answered in the system; no numbered paper
    kind="complaint",
)

# The procedures declared here; the registry adds the published matters (事项配置, workflows/services/matters.py) and
# their overlays of these (an administrator's materials checklist) through `install`.
DECLARED: Mapping[str, Procedure] = MappingProxyType(
    {p.id: p for p in (REGISTRATION, SPECIAL_POST, SENIOR_TITLE, SENIOR_POST_LEVEL2, RIGHTS_COMPLAINT)}
)
_entries: dict[str, Procedure] = dict(DECLARED)
PROCEDURES: Mapping[str, Procedure] = MappingProxyType(_entries)  # a live view: `install` changes what it holds
COMPLAINT_IDS: frozenset[str] = frozenset(p.id for p in DECLARED.values() if p.kind == "complaint")


def install(published: Mapping[str, Procedure]) -> None:
    """Make the registry the declared procedures plus `published` (the matters of one database, by id; a declared id
    is replaced by its overlay). Called when the published matters are read and after each publish or import."""
    merged = {**DECLARED, **published}
    if merged != _entries:
        # replaced in place, never emptied in between: another thread's lookup always finds the declared ones
        _entries.update(merged)
        for gone in set(_entries) - set(merged):
            _entries.pop(gone, None)
        _schemas.clear()


ANONYMOUS_NAME = "匿名"
DEFAULT_PUBLICITY = Publicity("“绿色通道”办理人选", "拟办理")


def get(procedure_id: str) -> Procedure:
    """The procedure of that id; an unknown id is the caller's error (422), never a KeyError."""
    p = PROCEDURES.get(procedure_id)
    if p is None:
        raise ValidationFailed(f"未知的事项：{procedure_id}")
    return p


def applicant_procedures() -> list[Procedure]:
    """What an applicant applies for in person (the others are filed by the unit)."""
    return [p for p in PROCEDURES.values() if p.applicant_may_start and p.kind == "application"]


def material_name(procedure_id: str, code: str) -> str:
    p = PROCEDURES.get(procedure_id)
    return p.material_name(code) if p is not None else code
