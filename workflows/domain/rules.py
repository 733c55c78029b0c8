"""Policy rules R1–R11: ids, titles and the clauses of the seed documents they apply.

Every decision the engine records carries a rule id; the clause text comes from here so that an audit event,
a refusal notice and the officer's screen all quote the same words. Each quotation is copied verbatim from the seed
document it names (its punctuation included: seed 002 uses ASCII commas) — tests/test_outcomes.py checks that each
one occurs in ../shared/seeds/ as printed. A rule whose basis is practice, not a text, has no quotation.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED_000 = "《保障科研人员权益工作方案》（内蒙古自治区科学技术厅，2025年4月15日）"
SEED_002 = "《关于进一步激发科研人员创新创业积极性的实施方案》"
SEED_004 = "《内蒙古自治区人才发展促进条例》"
LICENSING_LAW = "《中华人民共和国行政许可法》"


@dataclass(frozen=True)
class Quote:
    source: str  # document and article, as printed before the quotation
    text: str  # verbatim, without the quotation marks


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    quotes: tuple[Quote, ...] = ()
    basis: str = ""  # a rule without a text to quote: what it rests on (printed without quotation marks)

    @property
    def source(self) -> str:
        return "；".join(q.source for q in self.quotes) or self.basis

    @property
    def clause(self) -> str:
        """The quotations as one text (audit trail, officer screens)."""
        return "……".join(q.text for q in self.quotes) or self.title


RULES: dict[str, Rule] = {
    r.id: r
    for r in [
        Rule(
            "R1",
            "绿色通道列编仅限刚性引进的一至六类人才",
            (
                Quote(
                    f"{SEED_000}二(二)",
                    "刚性引进的一至六类人才，经认定符合备案条件的，通过‘绿色通道’直接办理列编注册手续，实行容缺受理、"
                    "即收即办；本单位编制不足的，可使用人才专项编制。",
                ),
            ),
        ),
        Rule(
            "R2",
            "材料齐全的即收即办",
            (Quote(f"{SEED_000}二(二)", "通过‘绿色通道’直接办理列编注册手续，实行容缺受理、即收即办"),),
        ),
        Rule(
            "R3",
            "容缺受理：关键材料齐全，其余材料承诺限期补齐，逾期终止办理",
            (
                Quote(f"{SEED_000}二(二)", "通过‘绿色通道’直接办理列编注册手续，实行容缺受理、即收即办"),
                Quote(
                    f"{LICENSING_LAW}第三十二条",
                    "申请材料不齐全或者不符合法定形式的，应当当场或者在五日内一次告知申请人需要补正的全部内容",
                ),
            ),
        ),
        Rule(
            "R4",
            "编制来源：本单位空编优先，不足时使用人才专项编制",
            (
                Quote(f"{SEED_000}二(二)", "本单位编制不足的，可使用人才专项编制。"),
                Quote(
                    f"{SEED_004}第三十四条",
                    "各地可在统筹盘活本地区事业编制的基础上，设立人才编制，专门用于引进高层次急需紧缺人才。",
                ),
            ),
        ),
        Rule(
            "R5",
            "编制外聘用人才考核合格后列编",
            (
                Quote(
                    f"{SEED_000}二(二)",
                    "自治区本级事业单位编制外聘用一至六类人才，用人单位考核合格后，可通过‘绿色通道’列编注册为事业编制人员。",
                ),
            ),
        ),
        Rule(
            "R6",
            "收到符合要求的备案申请后一个月内完成备案",
            (Quote(f"{SEED_002}(十一)", "相关部门应简化和落实备案程序,在收到符合要求的备案申请后一个月内完成备案。"),),
        ),
        Rule(
            "R7",
            "公示期及异议处理：异议经核查成立的，终止办理",
            basis="公示异议处理的通行做法（公示期内收到异议的，暂停办理；经核查异议成立的，终止办理）",
        ),
        Rule(
            "R8",
            "特设岗位的设置、核准、聘期与核销",
            (
                Quote(
                    f"{SEED_002}(十二)",
                    "对引进的急需紧缺高层次人才,经主管部门和同级人力资源社会保障部门审核批准可设置特设岗位,特设岗位的等级不受"
                    "单位岗位总量、最高等级和结构比例限制,在完成工作任务后予以核销;特设岗位的聘期一般不超过5年。",
                ),
            ),
        ),
        Rule(
            "R9",
            "职称绿色通道直接申报高级职称及二级岗位破格",
            (
                Quote(
                    f"{SEED_000}二(二)",
                    "对取得重大基础研究成果、突破关键核心技术、解决重大工程技术难题的本土人才，以及引进的六类以上优秀人才，"
                    "可通过自治区职称评审‘绿色通道’直接申报高级职称。",
                ),
                Quote(
                    f"{SEED_000}二(二)",
                    "三类以上人才可不受正高级岗位受聘年限和所在单位岗位设置数量限制破格申报专业技术二级岗位",
                ),
            ),
        ),
        Rule(
            "R10",
            "科研失信人员先行拒绝",
            (
                Quote(
                    f"{SEED_002}(十九)",
                    "建立科研失信黑名单,对违反科研项目管理规定、违规使用科研资金、在项目实施和绩效分配以及科技成果转化中弄虚作假"
                    "等严重失信行为,纳入失信联合惩戒名单,实行终身追责、联合惩戒。",
                ),
                Quote(
                    f"{SEED_004}第六十六条",
                    "对有严重失信行为记录的责任主体，可以在一定期限和范围内禁止其获得政府奖励和人才项目。",
                ),
            ),
        ),
        Rule(
            "R11",
            "科研人员权益保障窗口按问题类别分送办理",
            (
                Quote(
                    f"{SEED_000}三(三)",
                    "自治区科技厅、财政厅、教育厅、人力资源和社会保障厅等有关部门在门户网站建立“科研人员权益保障”窗口，"
                    "鼓励科研单人员对自身权益落实情况进行监督和反馈，科研管理放权和科技成果转化收益问题诉至自治区科技厅，"
                    "编制管理和职称评审有关问题诉至自治区人社厅，子女入学问题诉至自治区教育厅。各相关部门要加强工作指导，"
                    "主动听取科研人员意见诉求，及时研究解决相关问题，自治区科技厅按季度对投诉问题及解决情况进行调度，"
                    "结合工作实际情况进行通报。",
                ),
            ),
        ),
    ]
}

# What every adverse decision tells its addressee (《中华人民共和国行政许可法》第三十八条第二款: 说明理由，并告知申请人享有依法
# 申请行政复议或者提起行政诉讼的权利; the periods: 行政复议法第二十条 60 days, 行政诉讼法第四十六条 6 months).
REMEDY_BASIS = f"{LICENSING_LAW}第三十八条"


def remedy_sentence(body: str, paper: str) -> str:
    """The remedy sentence of an adverse decision; `body` is the reconsideration body (a setting), `paper` what the
    addressee received (本通知书 / 本决定书)."""
    return (
        f"根据{REMEDY_BASIS}的规定，如对本决定不服，可以自收到{paper}之日起六十日内向{body}申请行政复议，"
        f"或者自收到{paper}之日起六个月内依法向人民法院提起行政诉讼。"
    )


def rule(rule_id: str | None) -> Rule | None:
    return RULES.get(rule_id) if rule_id else None
