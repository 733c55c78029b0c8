"""Tests of the documents/ package. SAMPLES holds realistic data for every kind (also used by bench/documents.py)."""

import datetime as dt

D = dt.date

# A rare character in the applicant's name: 䶮 (U+4DAE, CJK Ext. A) is not in Fandol, Noto CJK has it.
COMMON = {
    "issue_date": D(2026, 11, 21),
    "issuer": "内蒙古自治区人力资源和社会保障厅",
    "verify_code": "7K3Q-9FXM-2D",
    "verify_url": "https://rsj.example.gov.cn/verify/7K3Q9FXM2D",
    "case_no": "150000A261121000042",
    "applicant_name": "刘䶮",
    "unit_name": "内蒙古自治区农牧业科学院",
    "cc": ["自治区党委编办", "自治区农牧厅"],
    "contact": "张敏，0471-6945123",
}

KEY_MATERIALS = ["身份证件", "人才类别认定文件", "聘用合同（拟聘决定）", "考察材料"]
OWED = [
    {"name": "学历学位证书及学信网认证报告", "supply_form": "原件核验、复印件留存", "deadline": D(2027, 1, 6)},
    {"name": "近三年个人所得税纳税证明", "supply_form": "电子件", "deadline": D(2027, 1, 6)},
    {"name": "原单位解除（终止）聘用合同证明", "supply_form": "原件", "deadline": D(2027, 1, 6)},
]
CLAUSE_R1 = ("刚性引进的一至六类人才，经认定符合备案条件的，通过‘绿色通道’直接办理列编注册手续，"
             "实行容缺受理、即收即办；本单位编制不足的，可使用人才专项编制。")
SOURCE_000 = "《保障科研人员权益工作方案》（内蒙古自治区科学技术厅，2025年4月15日）二（二）"

SAMPLES = {
    "acceptance_notice": {
        **COMMON, "doc_no": "内人社字〔2026〕15号",
        "procedure_name": "“绿色通道”列编注册", "submitted_date": D(2026, 11, 21),
        "materials": KEY_MATERIALS + ["学历学位证书", "体检合格证明"],
        "promised_date": D(2026, 12, 21), "next_office": "自治区党委编办",
    },
    "rongque_acceptance_notice": {
        **COMMON, "doc_no": "内人社字〔2026〕16号",
        "procedure_name": "“绿色通道”列编注册", "submitted_date": D(2026, 11, 20),
        "owed_items": OWED, "deadline": D(2027, 1, 6), "signed_date": D(2026, 11, 20),
        "promised_date": D(2027, 1, 20),
    },
    "rongque_commitment": {
        **COMMON, "doc_no": "内人社容承〔2026〕8号",
        "procedure_name": "“绿色通道”列编注册", "owed_items": OWED, "deadline": D(2027, 1, 6),
        "signed_date": D(2026, 11, 20), "id_number": "150102198803154527",
    },
    "refusal_notice": {
        **COMMON, "doc_no": "内人社字〔2026〕17号", "applicant_name": "王𠈌",
        "procedure_name": "“绿色通道”列编注册", "submitted_date": D(2026, 11, 19),
        "reason": "申请人系柔性引进人才，不属于刚性引进的一至六类人才",
        "rule_id": "R1", "clause": CLAUSE_R1, "clause_source": SOURCE_000,
        "alternative_route": "你单位可按事业单位公开招聘或编制外聘用的一般程序办理。",
    },
    "termination_notice": {
        **COMMON, "doc_no": "内人社字〔2026〕18号",
        "procedure_name": "“绿色通道”列编注册",
        "reason": "申请人承诺补交的容缺材料逾期未补交", "deadline": D(2027, 1, 6),
        "lapsed_items": ["近三年个人所得税纳税证明"], "rule_id": "R3",
        "clause": "实行容缺受理、即收即办", "clause_source": SOURCE_000,
        "quota_released": "为本件预留的人才专项编制1名予以释放；申请人违诺情况已记入违诺记录。",
    },
    "correction_notice": {
        **COMMON, "doc_no": "内人社字〔2026〕19号",
        "procedure_name": "职称评审“绿色通道”直接申报高级职称", "submitted_date": D(2026, 11, 18),
        "items": [
            {"name": "代表性成果证明", "requirement": "应提供成果鉴定或第三方评价意见原件扫描件"},
            {"name": "人才类别认定文件", "requirement": "所附文件无发文机关印章，请提供盖章件"},
        ],
        "deadline": D(2026, 12, 4),
    },
    "registration_filing_form": {
        **COMMON, "doc_no": "内人社备〔2026〕203号", "gender": "女", "birth_date": D(1988, 3, 15),
        "id_number": "150102198803154527", "education": "研究生/博士", "talent_category": 4,
        "recognition_doc": "内人才认〔2026〕112号", "supervisor": "内蒙古自治区农牧厅",
        "post_name": "专业技术岗位（研究员）", "current_title": "研究员", "quota_source": "pool",
        "hire_date": D(2026, 10, 30), "complete_date": D(2026, 11, 21), "filing_deadline": D(2026, 12, 21),
        "opinions": [
            {"stage": "用人单位意见", "text": "经考核，同意通过“绿色通道”列编注册。", "signer": "内蒙古自治区农牧业科学院",
             "date": D(2026, 11, 12)},
            {"stage": "主管部门意见", "text": "同意。", "signer": "内蒙古自治区农牧厅", "date": D(2026, 11, 14)},
            {"stage": "机构编制部门意见", "text": "同意使用人才专项编制1名。", "signer": "自治区党委编办",
             "date": D(2026, 11, 20)},
            {"stage": "人力资源社会保障部门备案意见", "text": ""},
        ],
    },
    "special_post_form": {
        **COMMON, "doc_no": "内人社岗〔2026〕27号", "supervisor": "内蒙古自治区农牧厅",
        "post_name": "草原生态修复首席专家", "post_level": "专业技术三级", "post_count": 1, "talent_category": 3,
        "term_months": 60, "term_start": D(2027, 1, 1), "term_end": D(2031, 12, 31),
        "reason": "本单位专业技术三级岗位已满编，无相应等级空缺岗位；引进急需紧缺人才承担自治区重大科技专项。",
        "duties": "主持“草原生态修复关键技术”自治区重大科技专项，组建研究团队，五年内完成示范区建设与成果转化。",
    },
    "special_post_writeoff_notice": {
        **COMMON, "doc_no": "内人社字〔2031〕42号", "issue_date": D(2031, 12, 31),
        "supervisor": "内蒙古自治区农牧厅", "post_name": "草原生态修复首席专家", "post_level": "专业技术三级",
        "approval_doc_no": "内人社岗〔2026〕27号", "writeoff_reason": "聘期届满", "writeoff_date": D(2031, 12, 31),
    },
    "title_application_form": {
        **COMMON, "doc_no": "内职评绿〔2026〕5号", "issuer": "内蒙古自治区职称改革工作领导小组办公室",
        "gender": "女", "birth_date": D(1988, 3, 15), "education": "研究生/博士", "specialty": "草业科学",
        "current_title": "副研究员", "applied_title": "研究员（正高级）", "talent_category": 3,
        "basis": "刚性引进的第三类人才，通过自治区职称评审“绿色通道”直接申报高级职称",
        "achievements": "主持国家重点研发计划课题2项；突破荒漠草原退化修复关键技术，成果在锡林郭勒盟推广120万亩。",
        "second_level_post": True, "off_post_startup": False, "delayed_retirement": False,
        "id_number": "150102198803154527",
    },
    "publicity_notice": {
        **COMMON, "doc_no": "内人社公〔2026〕9号", "issuer": "内蒙古自治区农牧业科学院",
        "subject": "“绿色通道”引进人才列编注册人选",
        "persons": [{"name": "刘䶮", "unit": "内蒙古自治区农牧业科学院", "detail": "刚性引进第四类人才，拟列编注册"}],
        "period_start": D(2026, 11, 23), "period_end": D(2026, 11, 27),
        "objection_contact": "自治区农牧业科学院人事处，电话0471-5296012，地址呼和浩特市玉泉区昭君路22号",
    },
    "title_filing_receipt": {
        **COMMON, "doc_no": "内人社职备〔2026〕31号", "committee": "自治区农业系列高级职称评审委员会",
        "applied_title": "研究员（正高级）", "review_date": D(2026, 12, 10),
        "experts_total": 25, "experts_present": 21, "votes_for": 18, "result": "通过",
    },
    "completion_notice": {
        **COMMON, "doc_no": "内人社字〔2026〕20号", "procedure_name": "“绿色通道”列编注册",
        "completed_date": D(2026, 12, 18), "outcome": "已列编注册为事业编制人员（使用人才专项编制1名）",
    },
}
